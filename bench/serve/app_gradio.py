"""The deployment guide's Gradio app: a ``gr.Interface`` with its queue, served by uvicorn on 127.0.0.1.

``python -m bench.serve.app_gradio CONFIG.json PORT``. Inputs are the guide's: prompt, negative prompt, steps,
guidance, seed, width, height, named in the API ``prompt``, ``negative_prompt``, ``steps``, ``guidance_scale``,
``seed``, ``width`` and ``height``, all but the prompt with a default. One call runs at a time
(``concurrency_limit=1``: one GPU); with ``max_batch`` > 1 the queue hands the function up to that many waiting
requests at once (``batch=True``, ``max_batch_size``). Beside the image the app returns a JSON output with the
server-side timing of the call (:class:`~bench.serve.engine.Served`), which the load generator reads; Gradio does
not expose when a request joined its queue, so ``arrived_s`` is left out and the driver uses its own send time
(same machine clock).
"""

from __future__ import annotations

import sys
from typing import Any

from bench.models.registry import get_model
from bench.serve.engine import Engine, GenRequest, Served
from bench.serve.host import add_host_routes, exit_with, serve_forever, start_engine

API_NAME = "predict"  # gr.Interface's default, so an existing guide app answers the same call


PARAMETERS = ("prompt", "negative_prompt", "steps", "guidance_scale", "seed", "width", "height")  # the API's names


def _request(
    prompt: str, negative: str | None, steps: float, guidance: float, seed: float, width: float, height: float
) -> GenRequest:
    return GenRequest(
        prompt=prompt,
        negative_prompt=negative or None,
        steps=int(steps),
        guidance_scale=float(guidance),
        seed=int(seed),
        width=int(width),
        height=int(height),
    )


def build_demo(engine: Engine, max_batch: int) -> Any:
    """The guide's Interface over ``engine`` (one image per request shown: the first of the prompt's).

    The function's parameters are the API's names (Gradio reads them from its signature), so a client calls it
    by keyword (``predict(prompt=..., steps=...)``); every input but the prompt has a default in the app (the
    run's value, or an empty negative prompt), which ``gradio_client`` fills in for what a call leaves out.
    """
    import gradio as gr

    spec = engine.spec
    model = get_model(spec.model)
    batched = max_batch > 1

    def serve(requests: list[GenRequest]) -> tuple[list[Any], list[dict[str, object]]]:
        for r in requests:
            if problem := engine.check(r):
                raise gr.Error(problem)
        images, served = engine.generate(requests)
        info = served.model_dump(mode="json")
        return [own[0] for own in images], [info] * len(requests)

    def generate(
        prompt: Any,
        negative_prompt: Any = None,
        steps: Any = spec.steps,
        guidance_scale: Any = spec.guidance_scale,
        seed: Any = spec.seed,
        width: Any = spec.width,
        height: Any = spec.height,
    ) -> tuple[Any, Any]:
        """Text to image: one value per input, or one list per input when the queue hands over a batch."""
        values = (prompt, negative_prompt, steps, guidance_scale, seed, width, height)
        if not prompt or (batched and not all(prompt)):
            raise gr.Error("prompt: a non-empty text is required")
        if batched:  # one list per input, one list per output
            return serve([_request(*row) for row in zip(*values, strict=True)])
        images, infos = serve([_request(*values)])
        return images[0], infos[0]

    top, step = model.max_resolution, model.resolution_multiple
    demo = gr.Interface(
        fn=generate,
        inputs=[
            gr.Textbox(label="Prompt", value=None),
            gr.Textbox(label="Negative prompt", value=""),
            gr.Slider(1, 150, value=spec.steps, step=1, label="Steps"),
            gr.Slider(0.0, 20.0, value=spec.guidance_scale, label="Guidance scale"),
            gr.Number(value=spec.seed, precision=0, label="Seed"),
            gr.Slider(64, top, value=spec.width, step=step, label="Width"),
            gr.Slider(64, top, value=spec.height, step=step, label="Height"),
        ],
        outputs=[gr.Image(type="pil", label="Image"), gr.JSON(label="Timing")],
        title=f"kbench: {spec.model}",
        batch=batched,
        max_batch_size=max_batch,
        concurrency_limit=1,
        flagging_mode="never",
        analytics_enabled=False,
        api_name=API_NAME,
        time_limit=None,
    )
    demo.queue(default_concurrency_limit=1)
    return demo


def served_from(output: object) -> Served | None:
    """The timing JSON of a kbench app's reply (None from an app that does not send it)."""
    if isinstance(output, (list, tuple)) and len(output) > 1 and isinstance(output[1], dict):
        try:
            return Served.model_validate(output[1])
        except ValueError:
            return None
    return None


def main(argv: list[str]) -> int:
    import gradio as gr
    from fastapi import FastAPI

    config, engine, sock = start_engine(argv)
    app = FastAPI(title="kbench Gradio app")
    add_host_routes(app, engine)
    app = gr.mount_gradio_app(app, build_demo(engine, config.max_batch), path="/", ssr_mode=False)
    return serve_forever(app, sock)


if __name__ == "__main__":
    exit_with(main(sys.argv[1:]))
