"""admin-console/nginx.conf under Debian's nginx, serving the built console on its own origin,
driven by Chromium against the API on another origin (CORS_ALLOWED_ORIGINS)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_admin_console import CONSOLE, ROOT_KEY, SHOTS, pytestmark  # noqa: F401
from tests.support.cluster import PgCluster
from tests.support.server import ServerProcess, free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
needs_nginx = pytest.mark.skipif(
    not Path(NGINX).exists(), reason="needs Debian's nginx: apt-get install -y nginx"
)


def _nginx_conf(folder: Path, port: int, config_dir: Path) -> Path:
    """The image's server block with the container paths and port swapped for this test's."""
    html = config_dir.parent / "html"  # as in the image: html/console is the build
    html.mkdir()
    (html / "console").symlink_to(CONSOLE / "dist")
    server = (CONSOLE / "nginx.conf").read_text()
    assert "listen 80;" in server  # the image's port; a free one here
    server = server.replace("listen 80;", f"listen 127.0.0.1:{port};")
    server = server.replace("/usr/share/nginx/html", str(html))
    server = server.replace("/tmp/console-config", str(config_dir))
    (folder / "server.conf").write_text(server)
    main = f"""
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log;
events {{}}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {folder}/server.conf;
}}
"""
    path = folder / "nginx.conf"
    path.write_text(main)
    return path


@pytest.fixture
def nginx_and_api(cluster: PgCluster, tmp_path: Path) -> Iterator[tuple[str, str]]:
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    name = cluster.new_database()
    api = ServerProcess(
        {
            "DATABASE_URL": cluster.dsn(name),
            "ROOT_API_KEY": ROOT_KEY,
            "ESCROWGRID_DATA_DIR": str(tmp_path / "data"),
            "CORS_ALLOWED_ORIGINS": origin,
            "RATE_LIMIT_ENABLED": "false",
        },
        tmp_path / "server.log",
    ).start()
    # What docker/40-console-config.sh does at container start, with this API's URL.
    # nginx's workers (nobody, when the test runs as root) read it: not under pytest's 0700 tmp.
    config_dir = Path(tempfile.mkdtemp(prefix="eg-nginx-")) / "console-config"
    config_dir.parent.chmod(0o755)
    script = CONSOLE / "docker" / "40-console-config.sh"
    config = _nginx_conf(tmp_path, port, config_dir)
    text = script.read_text().replace("/tmp/console-config", str(config_dir))
    subprocess.run(["sh", "-c", text], env={**os.environ, "API_URL": api.url}, check=True)
    (config_dir / "config.json").chmod(0o644)
    config_dir.chmod(0o755)
    nginx = subprocess.Popen([NGINX, "-c", str(config)], stderr=subprocess.PIPE)
    for _ in range(100):
        try:
            if httpx.get(origin + "/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    try:
        yield origin, api.url
    finally:
        nginx.terminate()
        nginx.wait(10)
        api.stop()
        cluster.drop_database(name)
        shutil.rmtree(config_dir.parent, ignore_errors=True)


@needs_nginx
def test_nginx_serves_the_console_across_origins(nginx_and_api: tuple[str, str]) -> None:
    origin, api_url = nginx_and_api
    health = httpx.get(origin + "/health")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert httpx.get(origin + "/").headers["location"].endswith("/console/")
    index = httpx.get(origin + "/console/")
    csp = index.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert index.headers["cache-control"] == "no-cache"
    assert httpx.get(origin + "/console/institutions/deep").text == index.text  # SPA fallback
    asset = next((CONSOLE / "dist" / "assets").glob("*.js")).name
    cached = httpx.get(f"{origin}/console/assets/{asset}")
    assert cached.headers["cache-control"] == "max-age=31536000"
    assert "content-security-policy" in cached.headers
    assert httpx.get(origin + "/console/assets/missing-0000.js").status_code == 404
    assert httpx.get(origin + "/console/config.json").json() == {"apiUrl": api_url}
    done = subprocess.run(
        ["node", "e2e/cross_origin.mjs"],
        cwd=CONSOLE,
        env={**os.environ, "CONSOLE_URL": origin + "/console/", "API_URL": api_url,
             "ROOT_KEY": ROOT_KEY, "SHOTS_DIR": str(SHOTS)},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
