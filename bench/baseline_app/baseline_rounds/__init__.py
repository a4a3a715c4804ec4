"""Page-per-round attribution rounds, written the way the oTree docs teach (the benchmark's baseline)."""

import functools
import json
import os
import random

from otree.api import BaseConstants, BaseGroup, BasePlayer, BaseSubsession, Page, models

from contracts.bundle import Bundle, read_bundle


class C(BaseConstants):
    NAME_IN_URL = "baseline_rounds"
    PLAYERS_PER_GROUP = None
    NUM_ROUNDS = int(os.environ.get("BASELINE_ROUNDS", "120"))


class Subsession(BaseSubsession):
    pass


class Group(BaseGroup):
    pass


class Player(BasePlayer):
    target_id = models.StringField()
    grid = models.LongStringField()  # JSON: rows of [generator, attempt, image name]
    target_image = models.StringField()
    choice = models.IntegerField(min=1, max=9)
    response_ms = models.FloatField(min=0)
    chosen_generator = models.StringField()


@functools.lru_cache(maxsize=4)
def _stimuli(path: str) -> tuple[Bundle, dict[str, dict[str, list[str]]]]:
    """The bundle and its reconstruction image names by target and generator (read once, not once per round)."""
    bundle = read_bundle(path)
    recs: dict[str, dict[str, list[str]]] = {}
    for r in bundle.reconstructions:
        recs.setdefault(r.target_id, {}).setdefault(r.generator, []).append(r.image.split("/")[-1])
    return bundle, recs


def creating_session(subsession: Subsession) -> None:
    bundle, recs = _stimuli(subsession.session.config["bundle"])
    rng = random.Random(subsession.session.code + str(subsession.round_number))
    for p in subsession.get_players():
        t = rng.choice(bundle.targets)
        gens = list(bundle.generator_ids)
        rng.shuffle(gens)
        p.target_id = t.target_id
        p.target_image = t.image.split("/")[-1]
        p.grid = json.dumps([[g, a, recs[t.target_id][g][a]] for g in gens[:3] for a in range(3)])


class Round(Page):
    form_model = "player"
    form_fields = ["choice", "response_ms"]

    @staticmethod
    def vars_for_template(player: Player) -> dict:
        base = player.session.config["image_base_url"]
        cells = json.loads(player.grid)
        return dict(target=base + player.target_image,
                    rows=[[(3 * i + j + 1, base + cells[3 * i + j][2]) for j in range(3)] for i in range(3)])

    @staticmethod
    def before_next_page(player: Player, timeout_happened: bool) -> None:
        player.chosen_generator = json.loads(player.grid)[player.choice - 1][0]


page_sequence = [Round]
