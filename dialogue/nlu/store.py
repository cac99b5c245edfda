"""Where the NLU's data and trained model live, and loading a model that matches its data.

The shipped training data is `dialogue/nlu/data/nlu.<language>.yml`; the held-out test split is
`test.<language>.yml` and the unrelated sentences for the false-action rate are
`unrelated.<language>.yml`. `settle train` writes the model to `var/nlu/intent-model.npz`; a
model trained from other data (its fingerprint differs) is retrained rather than used.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from dialogue.nlu.language import LANGUAGES
from dialogue.nlu.model import Encoder, IntentModel, TrainingRun, fingerprint, train
from dialogue.nlu.parser import Nlu
from dialogue.nlu.training_data import TrainingData, read_many

DEFAULT_MODEL_PATH = Path("var") / "nlu" / "intent-model.npz"


def data_dir() -> Path:
    """The training data shipped with Settle."""
    return Path(str(resources.files("dialogue.nlu") / "data"))


@dataclass(frozen=True)
class DataFiles:
    """The files of one data set, each with the language of its examples."""

    training: tuple[tuple[Path, str], ...]
    test: tuple[tuple[Path, str], ...]
    unrelated: tuple[tuple[Path, str], ...]

    @property
    def training_paths(self) -> list[Path]:
        return [path for path, _language in self.training]


def data_files(directory: Path | None = None) -> DataFiles:
    """The data files in `directory` (the shipped data by default) for every language."""
    base = directory or data_dir()

    def present(stem: str) -> tuple[tuple[Path, str], ...]:
        return tuple(
            (base / f"{stem}.{language}.yml", language)
            for language in LANGUAGES
            if (base / f"{stem}.{language}.yml").is_file()
        )

    files = DataFiles(training=present("nlu"), test=present("test"), unrelated=present("unrelated"))
    if not files.training:
        raise FileNotFoundError(f"no nlu.<language>.yml training file in {base}")
    return files


def training_data(files: DataFiles) -> TrainingData:
    return read_many((path, language) for path, language in files.training)


def train_model(
    encoder: Encoder, *, path: Path = DEFAULT_MODEL_PATH, directory: Path | None = None
) -> TrainingRun:
    """Train on the data in `directory` and save the model at `path`."""
    files = data_files(directory)
    run = train(training_data(files), encoder, fingerprint=fingerprint(files.training_paths))
    run.model.save(path)
    return run


def cached_model(path: Path, files: DataFiles) -> IntentModel | None:
    """The model at `path` if it was trained from exactly these files, else None."""
    if not path.is_file():
        return None
    try:
        model = IntentModel.load(path)
    except (OSError, ValueError, KeyError):
        return None
    return model if model.fingerprint == fingerprint(files.training_paths) else None


def load_nlu(
    encoder: Encoder, *, path: Path = DEFAULT_MODEL_PATH, directory: Path | None = None
) -> Nlu:
    """The NLU from the cached model, training it first when missing or stale (about 20 s)."""
    files = data_files(directory)
    model = cached_model(path, files)
    if model is None:
        model = train_model(encoder, path=path, directory=directory).model
    return Nlu(model, encoder)
