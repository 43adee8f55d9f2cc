#!/usr/bin/env bash
# One image, three roles, chosen by MODE (default api):
#   api      gunicorn serving api.wsgi:app on 0.0.0.0:5001 (BIND overrides)
#   worker   Celery workers consuming every queue the app defines (default, dataset, run):
#            CELERY_WORKER_PROCESSES of them (default: one per CPU), each with a thread pool;
#            CELERY_CONCURRENCY overrides CELERY_WORKER_CONCURRENCY (threads of each worker's pool)
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
    procs="${CELERY_WORKER_PROCESSES:-$(nproc)}"
    if [ "$procs" -le 1 ]; then
      exec celery "${args[@]}" "$@"
    fi
    # One thread-pool worker per CPU (as gunicorn runs one process per CPU): a Python process streams on one
    # core at most. If any of them exits, stop the rest and exit with its status (the container restarts).
    pids=()
    trap 'kill -TERM "${pids[@]}" 2>/dev/null || true' TERM INT
    for i in $(seq 1 "$procs"); do
      celery "${args[@]}" -n "worker${i}@%h" "$@" &
      pids+=($!)
    done
    status=0
    wait -n || status=$?
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait || true
    exit "$status"
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
