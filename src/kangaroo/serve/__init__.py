"""Front ends over `kangaroo.inference`: the OpenAI-compatible HTTP API (`api`, ``kangaroo serve``)
and the web demo (`web`, ``kangaroo demo --web``), sharing one `engine.ChatEngine`.

Importing this package pulls in neither FastAPI nor Gradio; `api` and `web` need
``pip install 'kangaroo[serve]'``.
"""
