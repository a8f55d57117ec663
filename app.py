"""The ``ssrlm serve`` page as a Hugging Face Space (or ``python app.py`` anywhere): the default model.

A Space sets ``GRADIO_SERVER_NAME=0.0.0.0``; elsewhere the page listens on 127.0.0.1:7860 only.
"""

from modeling_ssrlm.cli.serve import build_app, launch_options

demo = build_app(device="auto")

if __name__ == "__main__":
    demo.launch(**launch_options())
