"""Keyword extraction for economy-mode (keyword table) indexes, offline.

Chinese text uses jieba's TF-IDF (`jieba.analyse.extract_tags`), whose dictionary and IDF table ship inside the
jieba wheel; jieba is initialised lazily, once per process, with its stderr logging silenced. Other text uses a
stopword-filtered term frequency over lowercased alphanumeric tokens of at least two characters (pure numbers are
skipped); ties keep first-occurrence order, so the result is deterministic.
"""

from __future__ import annotations

import logging
import re
import threading
import warnings
from collections import Counter
from typing import Any

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[0-9a-z\u00c0-\u024f]+(?:['’][a-z]+)?")
_CJK_SHARE = 0.1  # jieba when at least this share of the word characters are CJK ideographs

_STOPWORD_TEXT = """
    a about above after again against all also am an and any are aren as at be because been before being below
    between both but by can cannot could couldn did didn do does doesn doing don down during each either else etc
    ever every few for from further get gets got had hadn has hasn have haven having he her here hers herself him
    himself his how however i if in into is isn it its itself just let like ll may me might more most must mustn my
    myself need neither no nor not now of off on once one only or other ought our ours ourselves out over own per
    re same shall shan she should shouldn since so some still such than that the their theirs them themselves then
    there these they this those though through thus to too under until up upon us use used using ve very via was
    wasn we were weren what when where whether which while who whom whose why will with within without won would
    wouldn yet you your yours yourself yourselves
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())

_jieba_lock = threading.Lock()
_jieba_analyse: Any = None


def extract_keywords(text: str, max_keywords: int = 10) -> list[str]:
    """Up to `max_keywords` keywords of `text`, most significant first (jieba TF-IDF for Chinese text)."""
    if max_keywords <= 0 or not text or not text.strip():
        return []
    if _is_chinese(text):
        tags = _jieba().extract_tags(text, topK=max_keywords * 2)
        keywords = [t.strip() for t in tags if t.strip() and not t.strip().isdigit() and t.lower() not in STOPWORDS]
        return _dedupe(keywords)[:max_keywords]
    return _frequent_terms(text, max_keywords)


def _is_chinese(text: str) -> bool:
    cjk = len(_CJK.findall(text))
    if not cjk:
        return False
    letters = sum(1 for c in text if c.isalnum())
    return cjk >= _CJK_SHARE * max(letters, 1)


def _frequent_terms(text: str, max_keywords: int) -> list[str]:
    counts: Counter[str] = Counter()
    # Count raw tokens in C first, then normalise each distinct token once (first-seen order kept for ties).
    for token, n in Counter(_WORD.findall(text.lower())).items():
        if "'" in token or "’" in token:
            token = token.replace("’", "'").split("'", 1)[0]
        if len(token) < 2 or token.isdigit() or token in STOPWORDS:
            continue
        counts[token] += n
    return [word for word, _ in counts.most_common(max_keywords)]


def _dedupe(words: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for word in words:
        key = word.lower()
        if key not in seen:
            seen.add(key)
            out.append(word)
    return out


def _jieba() -> Any:
    """jieba.analyse, initialised once: dictionary loaded from the wheel, init messages kept off stderr."""
    global _jieba_analyse
    if _jieba_analyse is None:
        with _jieba_lock:
            if _jieba_analyse is None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    import jieba
                    import jieba.analyse

                    jieba.setLogLevel(logging.WARNING)
                    jieba.initialize()
                _jieba_analyse = jieba.analyse
    return _jieba_analyse
