"""scikit-learn estimators around Keras models (`keras.wrappers.scikit_learn`).

`KerasClassifier` and `KerasRegressor` follow the scikit-learn estimator protocol
(`get_params`/`set_params`, `fit`, `predict`, `score`), so `clone`, `cross_val_score`,
`Pipeline` and `GridSearchCV` work with them. Each `fit` builds a fresh model by calling
`build_fn` with the parameters it accepts; the other parameters go to `fit`, `predict`,
`predict_classes` and `evaluate` by name, as in Keras 2.0.5. scikit-learn itself is only
imported when it asks for the estimator's tags.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from kgraph.models import Sequential
from kgraph.utils.np_utils import to_categorical

__all__ = ["BaseWrapper", "KerasClassifier", "KerasRegressor"]


def _arg_names(fn: Callable[..., Any]) -> set[str]:
    """The names `fn` accepts as keywords (`*args`/`**kwargs` add none)."""
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name for p in inspect.signature(fn).parameters.values() if p.kind in kinds}


def _loss_name(model: Any) -> Any:
    loss = model.loss
    return getattr(loss, "__name__", loss)


class BaseWrapper:
    """The scikit-learn estimator protocol around a function that builds a Keras model.

    Args:
        build_fn: a callable that builds, compiles and returns a Keras model: a function, an
            instance of a class with `__call__`, or None, in which case the subclass's own
            `__call__` builds the model.
        **sk_params: parameters of `build_fn` and of the model's `fit`, `predict`,
            `predict_classes` and `evaluate` (e.g. `epochs`, `batch_size`, `verbose`);
            each call receives those it accepts. They are the estimator's parameters, so
            `GridSearchCV` can search over them.

    Raises:
        ValueError: a parameter that none of these functions accepts.

    Example:
        ```python
        def make_model(units=16):
            model = Sequential([Dense(units, activation='relu', input_dim=4),
                                Dense(3, activation='softmax')])
            model.compile('adam', 'categorical_crossentropy', metrics=['accuracy'])
            return model

        clf = KerasClassifier(make_model, epochs=5, batch_size=16, verbose=0)
        GridSearchCV(clf, {'units': [8, 16]}).fit(x, y)
        ```
    """

    def __init__(self, build_fn: Callable[..., Any] | None = None, **sk_params: Any) -> None:
        self.build_fn = build_fn
        self.sk_params = sk_params
        self.check_params(sk_params)

    def _builder(self) -> Callable[..., Any]:
        if self.build_fn is None:
            return self.__call__  # type: ignore[attr-defined]
        return self.build_fn

    def check_params(self, params: dict[str, Any]) -> None:
        """Checks that every name in `params` is accepted by `build_fn` or by the model's
        `fit`, `predict`, `predict_classes` or `evaluate`.

        Raises:
            ValueError: naming the first parameter that none of them accepts.
        """
        if self.build_fn is None and not callable(self):
            raise ValueError(
                f"{type(self).__name__} needs a `build_fn`, or a `__call__` method that "
                "builds the model."
            )
        legal = {"nb_epoch"}  # the Keras 1 name of `epochs`
        for fn in (Sequential.fit, Sequential.predict, Sequential.predict_classes,
                   Sequential.evaluate, self._builder()):  # fmt: skip
            legal |= _arg_names(fn)
        for name in params:
            if name not in legal:
                raise ValueError(f"{name} is not a legal parameter")

    def get_params(self, **params: Any) -> dict[str, Any]:
        """The estimator's parameters: `build_fn` and the `sk_params` (`deep` is ignored)."""
        # A shallow copy: scikit-learn's `clone` checks that the parameters it passes to
        # the constructor are the very objects `get_params` returns.
        return {**self.sk_params, "build_fn": self.build_fn}

    def set_params(self, **params: Any) -> BaseWrapper:
        """Updates the `sk_params` (each name is checked as in `check_params`)."""
        self.check_params(params)
        self.sk_params.update(params)
        return self

    def filter_sk_params(
        self, fn: Callable[..., Any], override: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The `sk_params` that `fn` accepts, updated with `override`."""
        names = _arg_names(fn)
        res = {name: value for name, value in self.sk_params.items() if name in names}
        res.update(override or {})
        return res

    def fit(self, x: Any, y: Any, **kwargs: Any) -> Any:
        """Builds a new model with `build_fn` and trains it on (x, y).

        y is one-hot encoded when the model's loss is categorical_crossentropy and y is not
        2-D already. `kwargs` override the `sk_params` that `fit` accepts.

        Returns:
            The History of the model's `fit`.
        """
        builder = self._builder()
        self.model = builder(**self.filter_sk_params(builder))
        y = np.asarray(y)
        if _loss_name(self.model) == "categorical_crossentropy" and y.ndim != 2:
            y = to_categorical(y, getattr(self, "n_classes_", None))
        fit_args = self.filter_sk_params(Sequential.fit)
        if "nb_epoch" in self.sk_params and "epochs" not in self.sk_params:
            fit_args["epochs"] = self.sk_params["nb_epoch"]
        fit_args.update(kwargs)
        return self.model.fit(x, y, **fit_args)


class KerasClassifier(BaseWrapper):
    """A scikit-learn classifier around a Keras model (see `BaseWrapper`).

    Labels may be any sortable values (1-D, or a column), or a one-hot matrix: `fit` sets
    `classes_` (the sorted labels, or `arange(n)` for one-hot y) and `n_classes_`, and the
    model is trained on the labels' indices in `classes_`.
    """

    _estimator_type = "classifier"

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import ClassifierTags, Tags, TargetTags

        return Tags(estimator_type="classifier", target_tags=TargetTags(required=True),
                    classifier_tags=ClassifierTags())  # fmt: skip

    def fit(self, x: Any, y: Any, **kwargs: Any) -> Any:
        """Trains a new model on (x, y); see `BaseWrapper.fit`.

        Raises:
            ValueError: y is neither 1-D, a column, nor a one-hot matrix.
        """
        y = np.array(y)
        if y.ndim == 2 and y.shape[1] > 1:
            self.classes_ = np.arange(y.shape[1])
        elif y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1):
            self.classes_ = np.unique(y)
            y = np.searchsorted(self.classes_, y)
        else:
            raise ValueError(f"Invalid shape for y: {y.shape}")
        self.n_classes_ = len(self.classes_)
        return super().fit(x, y, **kwargs)

    def predict(self, x: Any, **kwargs: Any) -> np.ndarray:
        """The predicted labels: `classes_[model.predict_classes(x)]`; a one-unit
        (binary) model gives shape (n, 1), as in Keras 2.0.5."""
        kwargs = self.filter_sk_params(Sequential.predict_classes, kwargs)
        return self.classes_[self.model.predict_classes(x, **kwargs)]

    def predict_proba(self, x: Any, **kwargs: Any) -> np.ndarray:
        """Class probabilities, shape (n, n_classes); a one-unit (binary) model's output p
        becomes the two columns [1 - p, p]."""
        kwargs = self.filter_sk_params(Sequential.predict_proba, kwargs)
        probs = self.model.predict_proba(x, **kwargs)
        if probs.shape[1] == 1:
            probs = np.hstack([1 - probs, probs])
        return probs

    def score(self, x: Any, y: Any, **kwargs: Any) -> float:
        """The model's accuracy on (x, y), from `evaluate`.

        Raises:
            ValueError: the model was compiled without `metrics=['accuracy']`.
        """
        y = np.asarray(y)
        if y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1):
            y = np.searchsorted(self.classes_, y)
            if _loss_name(self.model) == "categorical_crossentropy":
                y = to_categorical(y, self.n_classes_)
        kwargs = self.filter_sk_params(Sequential.evaluate, kwargs)
        outputs = self.model.evaluate(x, y, **kwargs)
        if not isinstance(outputs, list):
            outputs = [outputs]
        for name, output in zip(self.model.metrics_names, outputs, strict=False):
            if name == "acc":
                return output
        raise ValueError(
            "The model is not configured to compute accuracy (its metrics are "
            f"{self.model.metrics_names}). You should pass `metrics=['accuracy']` to the "
            "`model.compile()` method."
        )


class KerasRegressor(BaseWrapper):
    """A scikit-learn regressor around a Keras model (see `BaseWrapper`).

    `score` returns the model's loss, as in Keras 2.0.5 (lower is better, although
    scikit-learn's searches maximize the score: pass a `scoring` to them).
    """

    _estimator_type = "regressor"

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import RegressorTags, Tags, TargetTags

        return Tags(estimator_type="regressor", target_tags=TargetTags(required=True),
                    regressor_tags=RegressorTags())  # fmt: skip

    def predict(self, x: Any, **kwargs: Any) -> np.ndarray:
        """The model's predictions with unit axes squeezed (shape (n,) for one output)."""
        kwargs = self.filter_sk_params(Sequential.predict, kwargs)
        return np.squeeze(self.model.predict(x, **kwargs))

    def score(self, x: Any, y: Any, **kwargs: Any) -> float:
        """The model's loss on (x, y), from `evaluate`."""
        kwargs = self.filter_sk_params(Sequential.evaluate, kwargs)
        loss = self.model.evaluate(x, y, **kwargs)
        if isinstance(loss, list):
            return loss[0]
        return loss
