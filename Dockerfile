# The iotgw image: one image for the cloud, the gateway and the simulator (compose.yaml picks
# the command). Build: `docker build -t iotgw .`
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY firmware_protocol ./firmware_protocol
COPY ingest_protocol ./ingest_protocol
COPY common ./common
COPY simulators ./simulators
COPY gateway ./gateway
COPY cloud ./cloud
COPY iotgw ./iotgw
# The extras of the three services compose.yaml runs from this image (docs/install.md).
RUN pip install '.[gateway,cloud,sim,postgres]' && rm -rf /src

# Never run as root: a fixed, unprivileged uid that owns only its data directories.
RUN groupadd --system --gid 10001 iotgw \
    && useradd --system --uid 10001 --gid iotgw --home-dir /var/lib/iotgw --shell /usr/sbin/nologin iotgw \
    && mkdir -p /var/lib/iotgw/gateway /var/lib/iotgw/cloud /var/lib/iotgw/secrets /etc/iotgw \
    && chown -R iotgw:iotgw /var/lib/iotgw
USER iotgw
WORKDIR /var/lib/iotgw

ENTRYPOINT ["iotgw"]
CMD ["--help"]
