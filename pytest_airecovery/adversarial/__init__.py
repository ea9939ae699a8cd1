"""Adversarial suites: deterministic variants of an incident's trigger, as test items.

* :mod:`.text` and :mod:`.arrays` hold the built-in transforms, :mod:`.registry` the registry
  users extend through the ``pytest_airecovery_add_transforms`` hook;
* :mod:`.casefile` checks a case's ``adversarial`` block and fixes the list of variants at
  collection, :mod:`.variants` makes them lazily as an input source, :mod:`.items` runs them;
* :mod:`.pytest_support` gives Python tests the same through ``@pytest.mark.adversarial`` and
  the ``adversarial_variant`` fixture; :mod:`.results` sums up catch rates per transform.

Nothing here is imported unless a case file or a test uses adversarial variants.
"""
