"""Streams through an oai-lb balancer that injects stream_options.include_usage, with the
official openai Python SDK, unchanged, and checks what the client sees.

Usage: python3 stream_usage.py BASE_URL CLIENT_KEY
Prints one JSON line: {"plain": {...}, "asked": {...}} where each side reports the number of
chunks, how many had no choices, whether a usage object arrived, and the text.
"""
import json
import sys

from openai import AzureOpenAI

base, key = sys.argv[1], sys.argv[2]
client = AzureOpenAI(azure_endpoint=base, api_key=key, api_version="2024-10-21", max_retries=0)


def stream(**extra):
    chunks, empty, usage, text = 0, 0, None, ""
    for chunk in client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hello there"}], stream=True, **extra
    ):
        chunks += 1
        if not chunk.choices:
            empty += 1
        else:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage is not None:
            usage = chunk.usage.model_dump()
    return {"chunks": chunks, "no_choices": empty, "usage": usage, "text": text}


print(json.dumps({"plain": stream(), "asked": stream(stream_options={"include_usage": True})}))
