# reloader's container image: docker build -t reloader:0.1.0 .
# Build stage: a virtualenv with reloader and its runtime dependencies (wheels only).
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY reloader ./reloader
RUN python -m venv /opt/reloader \
 && /opt/reloader/bin/pip install . \
 && /opt/reloader/bin/pip uninstall -y pip setuptools wheel

# Tools stage: kustomize and helm (the GitOps loop renders with them), sops and age, built
# from the Go modules pinned in hack/tools/ by the same script as hack/test uses.
FROM golang:1.26 AS tools
WORKDIR /src
COPY hack/build-tools hack/build-tools
COPY hack/tools hack/tools
ENV XDG_CACHE_HOME=/cache
RUN hack/build-tools \
 && mkdir /tools \
 && cp "$(hack/build-tools --print-dir)"/* /tools/

# Final stage: the slim base, git and an ssh client for the GitOps loop, no build tools.
FROM python:3.11-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 65532 --user-group --no-create-home --home-dir /tmp reloader
COPY --from=build /opt/reloader /opt/reloader
COPY --from=tools /tools/ /usr/local/bin/
ENV PATH=/opt/reloader/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/tmp
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["reloader"]
CMD ["run"]
