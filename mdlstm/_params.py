"""Estimator parameters read from the ``__init__`` signature (the scikit-learn contract).

An estimator stores every ``__init__`` argument verbatim under its own name;
:class:`Parameters` then derives ``get_params``, ``set_params``, ``clone``
and ``repr`` from the signature, so that no parameter list is written twice.
Fitted state lives in attributes ending in ``_`` (or private ones) and is
never a parameter.
"""

import inspect


class Parameters:
    """Mixin: parameters from the signature of ``__init__``."""

    @classmethod
    def param_names(cls):
        """The names of the constructor's parameters, in signature order."""
        signature = inspect.signature(cls.__init__)
        return [name for name, p in signature.parameters.items()
                if name != "self" and p.kind is p.POSITIONAL_OR_KEYWORD]

    def get_params(self):
        """The constructor's parameters and their current values.

        Returns
        -------
        dict
        """
        return {name: getattr(self, name) for name in self.param_names()}

    def set_params(self, **params):
        """Change parameters by name; returns self. Fitted results are not reset.

        Raises
        ------
        ValueError
            For a name that is not a parameter.
        """
        unknown = sorted(set(params) - set(self.param_names()))
        if unknown:
            raise ValueError(f"{type(self).__name__} has no parameter(s) {', '.join(unknown)}; "
                             f"its parameters are {', '.join(self.param_names())}")
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def clone(self, **params):
        """A new, unfitted estimator with the same parameters (and `params` changed)."""
        return type(self)(**{**self.get_params(), **params})

    def __repr__(self):
        defaults = {name: p.default for name, p in
                    inspect.signature(type(self).__init__).parameters.items()}
        changed = [f"{name}={value!r}" for name, value in self.get_params().items()
                   if not _same(value, defaults.get(name))]
        return f"{type(self).__name__}({', '.join(changed)})"


def _same(value, default):
    """Whether a parameter still has its default (arrays compare by identity)."""
    try:
        return bool(value is default or value == default)
    except ValueError:   # an array compared with a scalar default
        return False
