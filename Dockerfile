# syntax=docker/dockerfile:1
# The escrowgrid image: one image for every role, chosen by the command after the entrypoint
#   serve (default) | projections run | onchain run | db migrate | verify | any other CLI command
# Build: docker build -t escrowgrid .   (docs/deployment.md)

# Node comes from the official image: setup.py's build step builds the admin console into the
# wheel when admin-console/ is in the context.
FROM node:20-bookworm-slim AS node

FROM python:3.12-slim-bookworm AS builder
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm
WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md ./
COPY db ./db
COPY escrowgrid ./escrowgrid
COPY projections ./projections
COPY admin-console ./admin-console
# The wheel (setup.py build_py adds db/migrations and the console), then every dependency as a
# wheel, so the runtime stage installs offline and needs no compiler.
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
    && pip wheel --no-cache-dir --wheel-dir /wheels /wheels/escrowgrid-*.whl

FROM python:3.12-slim-bookworm AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ESCROWGRID_DATA_DIR=/var/lib/escrowgrid \
    HOST=0.0.0.0 \
    PORT=4000
RUN groupadd --system --gid 10001 escrowgrid \
    && useradd --system --uid 10001 --gid escrowgrid --home-dir /var/lib/escrowgrid \
       --create-home --shell /usr/sbin/nologin escrowgrid
COPY --from=builder /wheels /tmp/wheels
# Offline, from the wheels built above: the versions are the builder's, pinned by construction.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir --no-index --find-links=/tmp/wheels escrowgrid \
    && rm -rf /tmp/wheels
USER 10001:10001
WORKDIR /var/lib/escrowgrid
EXPOSE 4000
# On SIGTERM serve turns new connections away and answers every one it took before it exits
# (docs/operations.md, "Stopping"); the followers stop at their next batch.
STOPSIGNAL SIGTERM
# No curl in a slim image: the interpreter that is already there asks /health.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os,urllib.request as u; u.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT','4000'), timeout=2)"]
ENTRYPOINT ["escrowgrid"]
CMD ["serve"]
