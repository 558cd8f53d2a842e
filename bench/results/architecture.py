"""What a run actually built, as its record carries it: per component, class, parameters, dtypes, config hash.

A ``hub`` directory can hold any model under a registered pipeline class (a distilled, pruned or tiny one), so
the weight-source name alone cannot say whether a record measured the registered model. The child compares
what it built with the registered full-size architecture (:mod:`bench.models.architecture`) and stores the
verdict here, so every reader (cost, report, recommend) decides from the record without torch.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

_RECORD = ConfigDict(extra="forbid")


class ComponentInfo(BaseModel):
    """One neural component of a built pipeline."""

    model_config = _RECORD
    role: str  # pipeline role of the registry (prior, decoder, inpaint, main, edit, refiner)
    name: str  # attribute of the pipeline (unet, text_encoder, ...)
    class_name: str
    parameters: int
    dtypes: dict[str, int] = Field(default_factory=dict)  # dtype -> parameters stored in it (the dtype plan)
    config_hash: str = ""  # sha256[:12] of the sorted public config (private and path keys left out)


class ArchitectureInfo(BaseModel):
    """What was built and whether it is the registered full-size architecture of ``registered``."""

    model_config = _RECORD
    registered: str  # the model id it was compared with
    matches: bool  # same components, classes and parameter counts (within the tolerance) as registered
    differences: list[str] = Field(default_factory=list)
    components: list[ComponentInfo] = Field(default_factory=list)

    @property
    def parameters(self) -> int:
        """Parameters of the distinct components (a module shared by two roles counts once)."""
        seen: dict[tuple[str, str, int, str], int] = {}
        for c in self.components:
            seen.setdefault((c.name, c.class_name, c.parameters, c.config_hash), c.parameters)
        return sum(seen.values())


__all__ = ["ArchitectureInfo", "ComponentInfo"]
