"""What ProviderSerializer derives once per class instead of per instance: the result must be
what DRF's ModelSerializer derives for every instance."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from rest_framework import serializers

from integrations.api.serializers import ProviderSerializer, serializer_for
from integrations.providers import all_providers
from tests.api.support import BODIES, post_json, url
from tests.factories import SalesforceFactory

PROVIDERS = all_providers()


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


def test_each_provider_class_caches_its_own_validators():
    classes = [underived(serializer_for(provider)) for provider in PROVIDERS]
    assert len(set(classes)) == len(PROVIDERS)
    for serializer_class in classes:
        assert serializer_class().validators == []  # no provider has unique-together fields
    caches = [vars(serializer_class)["_class_validators"] for serializer_class in classes]

    assert len({id(cache) for cache in caches}) == len(caches)
    assert "_class_validators" not in vars(ProviderSerializer)
    for serializer_class, cache in zip(classes, caches, strict=True):
        assert cache == serializers.ModelSerializer.get_validators(serializer_class())


class RecordingValidator:
    """A serializer-level validator that takes its serializer at call time, as DRF's do."""

    requires_context = True

    def __init__(self):
        self.calls = []
        self.lock = threading.Lock()

    def __call__(self, attrs, serializer):
        with self.lock:
            self.calls.append((serializer, dict(attrs)))
        if attrs.get("account") == "refused":
            raise serializers.ValidationError("refused by the class validator")


def subclass_with_validators(parent, validators):
    meta = type("Meta", (parent.Meta,), {"validators": validators})
    return type(f"Validated{parent.__name__}", (parent,), {"Meta": meta})


def test_a_subclass_built_after_its_parent_cached_gets_its_own_validators():
    parent = underived(serializer_for(PROVIDERS[0]))
    parent_validators = parent().validators
    own = RecordingValidator()
    child = subclass_with_validators(parent, [own])

    assert child().validators == [own]
    assert parent().validators == parent_validators
    assert own not in parent().validators
    # and the other way round: the child first, then a fresh parent
    underived(parent)
    other = subclass_with_validators(parent, [RecordingValidator()])
    assert len(other().validators) == 1
    assert parent().validators == serializers.ModelSerializer.get_validators(parent())


def test_a_mutated_validators_list_does_not_leak_to_the_next_instance():
    serializer_class = underived(serializer_for(PROVIDERS[0]))
    first = serializer_class()
    first.validators.append(RecordingValidator())
    first.validators = [RecordingValidator()]

    assert serializer_class().validators == serializers.ModelSerializer.get_validators(
        serializer_class()
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_serializers_in_threads_validate_their_own_data():
    twilio = next(p for p in PROVIDERS if p.provider_key == "twilio")
    shared = RecordingValidator()
    serializer_class = subclass_with_validators(serializer_for(twilio), [shared])
    barrier = threading.Barrier(8)

    def validate(i: int):
        barrier.wait()
        account = "refused" if i % 2 else f"AC{i}"
        serializer = serializer_class(data={"account": account, "password": f"pw{i}"})
        valid = serializer.is_valid()
        return i, serializer, valid, serializer.errors, dict(serializer.validated_data or {})

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(validate, range(64)))

    for i, _serializer, valid, errors, data in results:
        if i % 2:
            assert not valid
            assert errors == {"non_field_errors": ["refused by the class validator"]}
        else:
            assert valid, errors
            assert data == {"account": f"AC{i}", "password": f"pw{i}"}
    by_serializer = {id(serializer): attrs for serializer, attrs in shared.calls}
    assert len(shared.calls) == 64 == len(by_serializer)
    for i, serializer, *_ in results:
        expected = "refused" if i % 2 else f"AC{i}"
        assert by_serializer[id(serializer)]["account"] == expected


# --- the API: the same answers with the per-class cache as with DRF's per-instance path -------

BAD_POSTS = [
    ("twilio", {"account": 42, "password": "x"}),
    ("twilio", {"account": "AC1"}),
    ("twilio", {"account": "AC1", "password": "p", "extra": "x"}),
    ("salesforce", {**BODIES["salesforce"], "username": "not-an-email"}),
    ("datasift", {"username": "", "api-key": ""}),
    ("sendgrid", []),
]


def _answers(client, tenant):
    answers = []
    for ident, body in BAD_POSTS:
        response = post_json(client, url(ident), body)
        answers.append((response.status_code, response.json()))
    SalesforceFactory(tenant=tenant, ident="crm")
    for body in [{"username": "bad"}, {"password": 3}, {}, {"type": "twilio"}, {"nope": 1}]:
        response = client.patch(url("crm"), json.dumps(body), content_type="application/json")
        answers.append((response.status_code, response.json()))
    response = post_json(client, url("sms"), {"type": "twilio", **BODIES["twilio"]})
    answers.append((response.status_code, sorted(response.json())))
    return answers


@pytest.mark.django_db
def test_post_and_patch_answers_are_drfs(tenant_client, tenant, monkeypatch):
    from integrations.models import Integration

    cached = _answers(tenant_client, tenant)
    Integration.all_objects.all().delete()
    monkeypatch.setattr(
        ProviderSerializer, "get_validators", serializers.ModelSerializer.get_validators
    )
    drfs = _answers(tenant_client, tenant)

    assert cached == drfs
    assert [status for status, _ in cached] == [400] * 11 + [201]
