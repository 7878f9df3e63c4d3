# The Berth operator image, for anyone with Docker, Podman or Buildah:
#
#   docker build --build-arg VERSION=$(hack/version.sh) \
#     --build-arg REVISION=$(git rev-parse HEAD) -t berth:$(hack/version.sh) .
#
# Two stages: `build` makes the wheels (Berth's own, from this checkout, and every
# dependency's) and installs them into a virtual environment at /opt/berth; the final
# stage is the base image, its Python, and that environment. Nothing else: no pip,
# no compiler, no build files.
#
# BASE_IMAGE is any Debian-like image whose /usr/bin/python3 is the Python the
# package is installed for, or one apt-get can install it on. `make image`
# (hack/image.sh) builds this same file where no container engine runs: buildah with
# chroot isolation, on a Debian base made by debootstrap; see README.md.
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS base
# The runtime: Debian's python3 (the base may already have it; then nothing changes).
RUN if ! command -v python3 >/dev/null; then \
      apt-get update \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 \
      && rm -rf /var/lib/apt/lists/*; \
    fi

FROM base AS build
RUN if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then \
      apt-get update \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv \
      && rm -rf /var/lib/apt/lists/*; \
    fi
# Optional: for builds behind a PyPI mirror or a TLS-inspecting proxy (a CA bundle
# mounted for the build, as hack/image.sh does); they end up in no layer.
ARG PIP_INDEX_URL
ARG PIP_CERT
ARG VERSION
RUN test -n "$VERSION" || { echo "build with --build-arg VERSION=\$(hack/version.sh)" >&2; exit 1; }
# Dependencies first, in a layer of their own that only a change of pyproject.toml
# invalidates: wheels of the build requirements and of every runtime dependency, the
# runtime ones installed. The .pyc files are compiled once, by hash (not by timestamp):
# the root filesystem is read-only at run time.
COPY pyproject.toml /src/
RUN python3 -m venv /opt/berth \
    && python3 -c 'import tomllib; p = tomllib.load(open("/src/pyproject.toml", "rb")); \
open("/src/build.txt", "w").write("\n".join(p["build-system"]["requires"])); \
open("/src/runtime.txt", "w").write("\n".join(p["project"]["dependencies"]))' \
    && /opt/berth/bin/pip wheel --no-cache-dir --wheel-dir /wheels -r /src/build.txt -r /src/runtime.txt \
    && /opt/berth/bin/pip install --no-cache-dir --no-compile --no-index --find-links /wheels \
       -r /src/runtime.txt \
    && python3 -m compileall -q --invalidation-mode unchecked-hash /opt/berth/lib
# Then Berth's own wheel, installed from the wheels made here only; pip and setuptools
# leave the environment afterwards.
COPY README.md LICENSE* /src/
COPY operator /src/operator
RUN /opt/berth/bin/pip wheel --no-cache-dir --no-index --find-links /wheels --no-deps \
       --wheel-dir /wheels /src \
    && /opt/berth/bin/pip install --no-cache-dir --no-compile --no-index --find-links /wheels berth \
    && /opt/berth/bin/pip uninstall -y pip setuptools \
    && /opt/berth/bin/berth --version | grep -qx "berth $VERSION" \
    && python3 -m compileall -q --invalidation-mode unchecked-hash /opt/berth/lib/python3*/site-packages/berth

FROM base
COPY --from=build /opt/berth /opt/berth
# The labels' arguments come before a RUN: a RUN's cache key holds the arguments in
# scope, so a new commit (REVISION) rebuilds from here on, labels included, and never
# reuses a cached step that still carries the previous commit's labels.
ARG VERSION
ARG REVISION=unknown
ARG SOURCE=unknown
# A fixed non-root user, the one the chart's securityContext names.
RUN echo 'berth:x:65532:65532:Berth operator:/nonexistent:/usr/sbin/nologin' >>/etc/passwd \
    && echo 'berth:x:65532:' >>/etc/group
ENV PATH=/opt/berth/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 65532:65532
WORKDIR /
ENTRYPOINT ["/opt/berth/bin/berth"]
CMD ["run"]
LABEL org.opencontainers.image.title="berth" \
      org.opencontainers.image.description="Berth: Score-compatible Workloads in platform-owned Environments (Kubernetes operator)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0"
