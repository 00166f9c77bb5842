# The T-DSES REST gateway (`tdses gateway serve`). Build from the repository root:
#   docker build -f k8s/images/gateway.Dockerfile -t tdses-gateway:0.1.0 .
# The package and its dependencies are installed into a virtual environment in the build stage; the
# final stage has only that environment and runs as an unprivileged user.

FROM python:3.11.13-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/tdses
WORKDIR /src
COPY pyproject.toml ./
COPY gateway/ gateway/
RUN /opt/tdses/bin/pip install .

FROM python:3.11.13-slim-bookworm
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin tdses
COPY --from=build /opt/tdses /opt/tdses
ENV PATH=/opt/tdses/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["tdses"]
CMD ["gateway", "serve", "--config", "/etc/tdses/gateway.yaml"]
