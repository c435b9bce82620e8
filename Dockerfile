FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY models ./models
COPY workers ./workers
COPY api_adapter ./api_adapter
RUN pip install --no-cache-dir . && useradd --create-home wft
USER wft
EXPOSE 8000 5555
CMD ["wft", "api", "--host", "0.0.0.0"]
