"""Model runtime: built-in providers (OpenAI, OpenAI-compatible, Azure OpenAI, Anthropic, Ollama) over httpx.

Framework-free (no flask/sqlalchemy/redis/celery/api.config). Start at `registry` (get_llm, get_embedding,
get_rerank, validate_credentials, provider_schemas); `fallback.invoke_with_fallbacks` adds retries, circuit
breaking and fallback chains. Errors are the `errors.InvokeError` family; usage is priced by `pricing`.
"""
