"""Base class of variable types."""


class Type:
    """What a Variable may hold; ``filter`` converts a user value or raises."""

    def filter(self, value, name=None, allow_downcast=None):
        raise NotImplementedError

    def make_variable(self, name=None):
        raise NotImplementedError

    def __call__(self, name=None):
        return self.make_variable(name)
