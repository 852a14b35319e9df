"""The prd.json contract with the seed: its README example and its own PRD shape (with
fields this schema does not model) load, and a story marked passing is written back
with every field kept; a run's state and its bus event survive the wire."""

from __future__ import annotations

import json
import time
from pathlib import Path

import msgspec
from codetether.daemon.core.bus import check_topic
from codetether.daemon.core.ralph import PrdFile, next_story
from codetether.daemon.wire.bus import BusEnvelope, TaskUpdate, decode_envelope, encode_envelope
from codetether.daemon.wire.ralph import RalphIteration, RalphProgress, RalphState, describe_progress

#: The seed README's "How to Replicate" prd.json, verbatim.
SEED_README = """{
  "project": "my-project",
  "feature": "My Feature",
  "quality_checks": {
    "typecheck": "cargo check",
    "test": "cargo test",
    "lint": "cargo clippy",
    "build": "cargo build --release"
  },
  "user_stories": [
    {
      "id": "US-001",
      "title": "First Story",
      "description": "Implement the first piece",
      "acceptance_criteria": ["Compiles", "Tests pass"],
      "priority": 1,
      "depends_on": [],
      "passes": false
    }
  ]
}
"""

#: The seed's own serialization of a PRD: version, technical_requirements, timestamps.
SEED_FULL = {
    "project": "codetether", "feature": "LSP client", "branch_name": "feature/lsp", "version": "1.0",
    "user_stories": [
        {"id": "US-001", "title": "Transport", "description": "stdio", "acceptance_criteria": [], "passes": True,
         "priority": 1, "depends_on": [], "complexity": 3},
        {"id": "US-002", "title": "JSON-RPC", "description": "framing", "acceptance_criteria": ["frames"],
         "passes": False, "priority": 1, "depends_on": ["US-001"], "complexity": 2},
        {"id": "US-003", "title": "Initialize", "description": "handshake", "acceptance_criteria": [],
         "passes": False, "priority": 2, "dependencies": ["US-002"], "complexity": 3}],
    "technical_requirements": ["no unsafe"], "quality_checks": {"typecheck": "cargo check", "test": None,
                                                                "lint": None, "build": None},
    "created_at": "2026-01-01T00:00:00Z", "updated_at": "",
}


def test_the_seed_readme_prd_loads_and_keeps_its_text_shape(tmp_path: Path) -> None:
    path = tmp_path / "prd.json"
    path.write_text(SEED_README)
    prd = PrdFile.load(path)
    story = next_story(prd.prd)
    assert story is not None and story.id == "US-001"
    prd.mark_passed("US-001")
    prd.save()
    expected = json.loads(SEED_README)
    expected["user_stories"][0]["passes"] = True
    assert json.loads(path.read_text()) == expected


def test_the_seeds_full_prd_round_trips_with_every_field(tmp_path: Path) -> None:
    path = tmp_path / "prd.json"
    path.write_text(json.dumps(SEED_FULL))
    prd = PrdFile.load(path)
    assert [s.depends_on for s in prd.prd.user_stories] == [[], ["US-001"], ["US-002"]]
    story = next_story(prd.prd)
    assert story is not None and story.id == "US-002"
    prd.mark_passed("US-002")
    prd.save()
    back = json.loads(path.read_text())
    assert back["user_stories"][1]["passes"] is True
    back["user_stories"][1]["passes"] = False
    assert back == SEED_FULL  # "dependencies" stays spelled as it was


def test_a_runs_state_and_its_bus_event_survive_the_wire() -> None:
    state = RalphState(prd_id="prd-abc", prd_path="/w/prd.json", workspace="/w", status="max_iterations",
                       iteration=2, iterations=(RalphIteration(iteration=1, story_id="A", outcome="failed",
                                                               failed_check="test", failed_output="boom"),))
    assert msgspec.json.decode(msgspec.json.encode(state), type=RalphState) == state
    event = RalphProgress(prd_id="prd-abc", phase="failed", story="A", iteration=1, detail="test failed")
    envelope = BusEnvelope(id="1", topic=check_topic("ralph.prd-abc"), sender_id="ralph:prd-abc",
                           timestamp=time.time(), message=TaskUpdate(
                               task_id="ralph:prd-abc", state="TASK_STATE_WORKING",
                               metadata=msgspec.to_builtins(event)))
    assert decode_envelope(encode_envelope(envelope)) == envelope
    assert describe_progress(msgspec.to_builtins(event)) == "✗ A failed: test failed"
    assert describe_progress({"phase": "failed", "detail": "hook raised"}) == "ralph failed: hook raised"
