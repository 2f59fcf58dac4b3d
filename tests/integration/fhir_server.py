"""A real FHIR R4 server for the tests: PyPI `sekmet-fhir` in its own venv, on loopback.

The venv lives outside the repository, in `$SEKMET_VENV` or
`~/.cache/vcf-imaging-cds/sekmet/.venv-sekmet`, and is created on first use (about 30 s).
Install ahead of time (e.g. in CI) with `python3 -m tests.integration.fhir_server --install`;
start one by hand with `python3 -m tests.integration.fhir_server` (prints base URL and token).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from .processes import free_port, stop

SEKMET_VERSION = "0.1.1"
_STARTUP_SECONDS = 60.0
_HTTP_TIMEOUT = (2.0, 30.0)
PATIENT_SEARCH_TYPES = {
    "conditions": "Condition",
    "procedures": "Procedure",
    "serviceRequests": "ServiceRequest",
    "imagingStudies": "ImagingStudy",
    "diagnosticReports": "DiagnosticReport",
}


def sekmet_venv() -> Path:
    configured = os.environ.get("SEKMET_VENV")
    if configured:
        return Path(configured)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "vcf-imaging-cds" / "sekmet" / ".venv-sekmet"


def ensure_sekmet(venv: Path | None = None) -> Path:
    """The `sekmet` executable, installing sekmet-fhir into its own venv when missing."""
    venv = venv or sekmet_venv()
    executable = venv / "bin" / "sekmet"
    if _installed_version(venv) == SEKMET_VERSION:
        return executable
    if not (venv / "pyvenv.cfg").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", f"sekmet-fhir=={SEKMET_VERSION}"],
        check=True,
        timeout=900,
    )  # fmt: skip
    if _installed_version(venv) != SEKMET_VERSION:
        raise RuntimeError(f"sekmet-fhir {SEKMET_VERSION} did not install into {venv}")
    return executable


def _installed_version(venv: Path) -> str | None:
    python = venv / "bin" / "python"
    if not python.exists() or not (venv / "bin" / "sekmet").exists():
        return None
    found = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('sekmet-fhir'))"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return found.stdout.strip() if found.returncode == 0 else None


@dataclass
class SekmetServer:
    base_url: str  # the FHIR base, e.g. http://127.0.0.1:PORT/fhir
    token: str
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.token}",
            "Content-Type": "application/fhir+json",
            "Accept": "application/fhir+json",
        }

    def transaction(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
        response = self.session.post(
            self.base_url, json=bundle, headers=self._headers(), timeout=_HTTP_TIMEOUT
        )
        response.raise_for_status()
        return response.json()

    def put_all(self, resources: Iterable[dict[str, Any]]) -> None:
        """Store resources under their own ids (`PUT Type/id` entries keep ids)."""
        entries = [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in resources
        ]
        if entries:
            self.transaction(entries)

    def search_ids(self, resource_type: str, patient_id: str) -> list[str]:
        url: str | None = f"{self.base_url}/{resource_type}?patient={patient_id}&_count=1000"
        ids: list[str] = []
        while url:
            response = self.session.get(url, headers=self._headers(), timeout=_HTTP_TIMEOUT)
            response.raise_for_status()
            page = response.json()
            ids.extend(e["resource"]["id"] for e in page.get("entry", []))
            url = next((x["url"] for x in page.get("link", []) if x["relation"] == "next"), None)
        return ids

    def clear_patient(self, patient_id: str, types: Iterable[str]) -> None:
        """Delete the patient's resources of these types, so a data set starts clean."""
        entries = [
            {"request": {"method": "DELETE", "url": f"{resource_type}/{resource_id}"}}
            for resource_type in types
            for resource_id in self.search_ids(resource_type, patient_id)
        ]
        if entries:
            self.transaction(entries)

    def load_patient(self, patient_id: str, prefetch: dict[str, Any]) -> None:
        """Hold exactly the data of this prefetch for the patient: earlier data sets go."""
        self.clear_patient(patient_id, PATIENT_SEARCH_TYPES.values())
        patient = prefetch.get("patient")
        if not (isinstance(patient, dict) and patient.get("resourceType") == "Patient"):
            patient = {"resourceType": "Patient", "id": patient_id}
        resources = [patient]
        for key in PATIENT_SEARCH_TYPES:
            bundle = prefetch.get(key)
            if isinstance(bundle, dict):
                resources += [entry["resource"] for entry in bundle.get("entry", [])]
        self.put_all(resources)


def settings_yaml(port: int, workdir: Path, tokens: Iterable[str]) -> str:
    """Bearer auth, no simulator (which would act on ServiceRequests), on loopback."""
    token_list = ", ".join(tokens)
    return "\n".join(
        [
            f"base_url: http://127.0.0.1:{port}/fhir",
            "host: 127.0.0.1",
            f"port: {port}",
            f"data_dir: {workdir / 'data'}",
            f"own_private_key_path: {workdir / 'keys' / 'sekmet_private.pem'}",
            f"server_auth: {{types: [bearer], tokens: [{token_list}]}}",
            "validation: {inbound: warn}",
            "simulator: {enabled: false}",
            "",
        ]
    )


@contextlib.contextmanager
def running_sekmet(workdir: Path) -> Iterator[SekmetServer]:
    """A fresh sekmet-fhir with an empty store and a random bearer token."""
    executable = ensure_sekmet()
    port = free_port()
    token = secrets.token_urlsafe(24)
    config = workdir / "settings.yaml"
    config.write_text(settings_yaml(port, workdir, [token]))
    log_path = workdir / "sekmet.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(executable), "serve", "--config", str(config)],
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = SekmetServer(f"http://127.0.0.1:{port}/fhir", token)
    try:
        _wait_until_up(server, process, log_path)
        yield server
    finally:
        server.session.close()
        stop(process)


def _wait_until_up(server: SekmetServer, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + _STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sekmet exited at start-up:\n{log_path.read_text()[-2000:]}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{server.base_url}/metadata", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"sekmet did not answer within {_STARTUP_SECONDS:.0f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--install", action="store_true", help="only install, then exit")
    args = parser.parse_args(argv)
    executable = ensure_sekmet()
    if args.install:
        print(executable)
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the server on kill, too
    with tempfile.TemporaryDirectory() as workdir, running_sekmet(Path(workdir)) as server:
        print(f"FHIR base: {server.base_url}\nbearer token: {server.token}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
