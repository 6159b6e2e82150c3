"""What ProviderSerializer derives once per class instead of per instance: the result must be
what DRF's ModelSerializer derives for every instance."""

import pytest
from rest_framework import serializers

from integrations.api.serializers import serializer_for
from integrations.providers import all_providers


def underived(serializer_class):
    """`serializer_class` as before its first instance: nothing derived and cached yet."""
    if "_class_validators" in vars(serializer_class):
        del serializer_class._class_validators
    return serializer_class


@pytest.fixture(autouse=True)
def _no_derivation_left_behind():
    yield
    for provider in all_providers():
        underived(serializer_for(provider))


@pytest.mark.parametrize("provider", all_providers(), ids=lambda provider: provider.__name__)
def test_validators_are_drfs_derived_once(provider, monkeypatch):
    serializer_class = underived(serializer_for(provider))
    derived = []
    drfs = serializers.ModelSerializer.get_validators

    def counted(self):
        derived.append(self)
        return drfs(self)

    monkeypatch.setattr(serializers.ModelSerializer, "get_validators", counted)

    first, second = serializer_class(), serializer_class()

    assert first.validators == second.validators == drfs(serializer_class())
    assert first.validators is not second.validators  # a list each, as DRF's Meta path gives
    assert len(derived) == 1


def test_a_model_with_a_unique_together_keeps_its_validator(monkeypatch):
    """If a provider's fields ever were unique together, DRF's validator must still run."""
    provider = all_providers()[0]
    serializer_class = underived(serializer_for(provider))
    sentinel = object()
    monkeypatch.setattr(serializers.ModelSerializer, "get_validators", lambda self: [sentinel])

    assert serializer_class().validators == [sentinel]
    assert serializer_class().validators == [sentinel]
