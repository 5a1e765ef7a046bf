"""Drives an oai-lb balancer with the official openai Python SDK, unchanged.

Usage: python3 openai_sdk.py BASE_URL CLIENT_KEY
Uses both clients (OpenAI against /openai/v1, AzureOpenAI against deployments), streaming and
not, chat and embeddings, with SDK retries OFF so every 429 would surface. Prints one JSON
line: {"calls": N, "errors": [...], "backends": {name: count}}.
"""
import json
import sys

from openai import AzureOpenAI, OpenAI

base, key = sys.argv[1], sys.argv[2]
azure = AzureOpenAI(azure_endpoint=base, api_key=key, api_version="2024-10-21", max_retries=0)
plain = OpenAI(base_url=base + "/openai/v1", api_key=key, max_retries=0)
backends = {}
errors = []
calls = 0


def seen(raw):
    name = raw.headers.get("x-oai-lb-backend", "?")
    backends[name] = backends.get(name, 0) + 1


def call(label, fn):
    global calls
    calls += 1
    try:
        fn()
    except Exception as e:  # every failure is reported, none is retried
        errors.append(f"{label}: {type(e).__name__}: {e}")


def azure_chat():
    raw = azure.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hello"}], max_tokens=8)
    seen(raw)
    assert raw.parse().choices[0].message.content


def azure_chat_stream():
    with azure.chat.completions.with_streaming_response.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hello"}], max_tokens=8, stream=True) as raw:
        seen(raw)
        text = "".join((c.choices[0].delta.content or "") for c in raw.parse() if c.choices)
        assert text


def azure_embeddings():
    raw = azure.embeddings.with_raw_response.create(model="text-embedding-3-small", input="hello")
    seen(raw)
    assert len(raw.parse().data[0].embedding) > 0


def v1_chat():
    raw = plain.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hello"}], max_tokens=8)
    seen(raw)
    assert raw.parse().choices[0].message.content


def v1_chat_stream():
    stream = plain.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], max_tokens=8, stream=True)
    text = "".join((c.choices[0].delta.content or "") for c in stream if c.choices)
    assert text
    backends["(stream)"] = backends.get("(stream)", 0) + 1


def v1_embeddings():
    raw = plain.embeddings.with_raw_response.create(model="text-embedding-3-small", input=["a", "b"])
    seen(raw)
    assert len(raw.parse().data) == 2


for i in range(10):
    for label, fn in [("azure chat", azure_chat), ("azure chat stream", azure_chat_stream),
                      ("azure embeddings", azure_embeddings), ("v1 chat", v1_chat),
                      ("v1 chat stream", v1_chat_stream), ("v1 embeddings", v1_embeddings)]:
        call(label, fn)

print(json.dumps({"calls": calls, "errors": errors, "backends": backends}))
