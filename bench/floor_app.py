"""The framework floor: a Flask app that only parses the hook body and answers no cards.

Served by gunicorn with the Procfile's settings (`bench.floor_app:app`), it is what any
Flask service must spend on the same payload: HTTP, WSGI, reading and parsing the body
with `json.loads` (the parse the in-process figures compare with), and a JSON answer.
"""

from __future__ import annotations

import json

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/cds-services/<service_id>")
def invoke(service_id: str):
    json.loads(request.get_data(cache=False))
    return jsonify({"cards": []})


@app.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})
