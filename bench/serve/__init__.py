"""Serving under load: the deployment guide's Gradio app and an OpenAI-style endpoint, each in its own process,
driven by a seeded open- or closed-loop load generator; one record per load point and the max rate at an SLO."""
