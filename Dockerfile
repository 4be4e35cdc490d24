# latentspace service image: the `latent` command (serve, index, demo, health, explore, client commands).
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    LATENTSPACE_DATA_DIR=/data \
    LATENTSPACE_MODEL_CACHE=/models \
    HF_HOME=/models/huggingface

WORKDIR /app
# Dependencies first, so code changes do not re-install torch.
COPY constraints.txt pyproject.toml setup.py README.md ./
COPY clients/python clients/python
COPY indexer indexer
COPY server server
COPY cli cli
COPY explorer explorer
RUN pip install -c constraints.txt ./clients/python ".[milvus]" \
    && useradd --create-home --uid 1000 latent \
    && mkdir -p /data /models && chown latent:latent /data /models

USER latent
VOLUME ["/data", "/models"]
EXPOSE 50051
ENTRYPOINT ["latent"]
CMD ["serve", "--data", "/data", "--host", "0.0.0.0", "--port", "50051"]
