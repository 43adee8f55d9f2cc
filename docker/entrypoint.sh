#!/usr/bin/env bash
# One image, three roles, chosen by MODE (default api):
#   api      gunicorn serving api.wsgi:app on 0.0.0.0:5001 (BIND overrides)
#   worker   a Celery worker consuming every queue the app defines (default, dataset, run);
#            CELERY_CONCURRENCY overrides CELERY_WORKER_CONCURRENCY (threads of the worker's pool)
#   beat     Celery beat: schedules periodic housekeeping (run exactly one per deployment)
#   migrate  `flask db upgrade` once, then exit (compose runs it before api and worker start)
# Extra arguments are passed through to the chosen command.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE="${MODE:-api}"
case "$MODE" in
  api)
    exec gunicorn -c docker/gunicorn.conf.py --bind "${BIND:-0.0.0.0:5001}" api.wsgi:app "$@"
    ;;
  worker)
    args=(-A api.worker:celery worker --loglevel=INFO)
    if [ -n "${CELERY_CONCURRENCY:-}" ]; then
      args+=(--concurrency "$CELERY_CONCURRENCY")
    fi
    exec celery "${args[@]}" "$@"
    ;;
  beat)
    exec celery -A api.worker:celery beat --loglevel=INFO --schedule /tmp/celerybeat-schedule "$@"
    ;;
  migrate)
    exec flask --app api.wsgi db upgrade "$@"
    ;;
  *)
    echo "entrypoint: unknown MODE '$MODE' (expected api, worker, beat or migrate)" >&2
    exit 64
    ;;
esac
