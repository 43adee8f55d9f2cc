"""The baseline: a bare Flask app with one GET route, served by the same gunicorn settings as the real app.

`gunicorn -c docker/gunicorn.conf.py bench.bare_app:app`. The body mirrors the size and shape of a chat
app's `GET /v1/parameters` answer, so the comparison measures framework + app overhead, not payload size.
"""

from flask import Flask

app = Flask(__name__)

_BODY = {
    "opening_statement": None,
    "suggested_questions": [],
    "user_input_form": [],
    "suggested_questions_after_answer": {"enabled": False},
    "speech_to_text": {"enabled": False},
    "text_to_speech": {"enabled": False, "voice": "", "language": ""},
    "retriever_resource": {"enabled": True},
    "annotation_reply": {"enabled": False},
    "more_like_this": {"enabled": False},
    "sensitive_word_avoidance": {"enabled": False, "type": "", "configs": []},
    "file_upload": {"image": {"enabled": False, "number_limits": 3, "detail": "high",
                              "transfer_methods": ["remote_url", "local_file"]}},
    "system_parameters": {"image_file_size_limit": 10, "video_file_size_limit": 100, "audio_file_size_limit": 50,
                          "file_size_limit": 15, "workflow_file_upload_limit": 10},
}


@app.get("/bare")
def bare() -> dict:
    return _BODY
