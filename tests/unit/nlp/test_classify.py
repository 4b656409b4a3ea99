"""Topic classification: the seed's topics, scores with evidence, and hard negatives."""

from __future__ import annotations

import pytest

from streams.nlp.classify import TopicClassifier, lead_end, sentences_of
from streams.nlp.rules import TopicDefinition


def topics_of(classifier, body, headline=None):
    return [match.topic for match in classifier.classify(headline, body)]


def test_seed_belongs_to_all_three_topics_with_withdrawal_first(classifier, seed_dispatch):
    matches = classifier.classify(seed_dispatch.headline, seed_dispatch.body)
    assert matches[0].topic == "withdrawal"
    assert {m.topic for m in matches} == {"withdrawal", "russia-ukraine", "iran-deal"}
    assert all(0.0 <= m.score <= 1.0 for m in matches)


def test_evidence_points_at_the_text_it_quotes(classifier, seed_dispatch):
    for match in classifier.classify(seed_dispatch.headline, seed_dispatch.body):
        assert match.evidence, match.topic
        for evidence in match.evidence:
            assert seed_dispatch.body[evidence.start:evidence.end] == evidence.text
    withdrawal = classifier.classify(None, seed_dispatch.body)[0]
    assert any("retrait coordonné des troupes" in e.text for e in withdrawal.evidence)


def test_headline_evidence_has_headline_offsets(classifier):
    headline = "Afghanistan: les derniers soldats américains ont quitté Kaboul"
    body = ("Les derniers soldats américains ont quitté l'Afghanistan lundi soir, mettant fin "
            "à vingt ans de présence militaire.\n\nLe retrait des troupes s'achève.")
    [match] = classifier.classify(headline, body)
    assert match.topic == "withdrawal"
    in_headline = [e for e in match.evidence if e.field == "headline"]
    assert in_headline and all(headline[e.start:e.end] == e.text for e in in_headline)


def test_same_text_with_or_without_accents_scores_the_same(classifier):
    accented = "Moscou a annoncé le retrait de ses troupes déployées à la frontière ukrainienne."
    plain = "Moscou a annonce le retrait de ses troupes deployees a la frontiere ukrainienne."
    scores = [[(s.topic, round(s.score, 6)) for s in classifier.score_topics(None, text)]
              for text in (accented, plain)]
    assert scores[0] == scores[1]


@pytest.mark.parametrize(
    "body",
    [
        "Washington a annoncé mardi son retrait de l'accord sur le climat, une décision "
        "vivement critiquée par ses partenaires européens.",
        "Le candidat écologiste a annoncé le retrait de sa candidature à l'élection "
        "présidentielle, faute de parrainages suffisants.",
        "Le gouvernement a retiré le projet de loi sur les retraites après des semaines de "
        "manifestations.",
        "Plusieurs entreprises occidentales ont annoncé leur retrait du marché russe, "
        "invoquant des difficultés logistiques.",
    ],
)
def test_other_senses_of_withdrawal_are_not_withdrawal(classifier, body):
    assert "withdrawal" not in topics_of(classifier, body)


def test_russian_news_without_ukraine_is_not_russia_ukraine(classifier):
    body = ("Le Kremlin a annoncé une hausse des retraites de 8 % à partir de janvier. "
            "Vladimir Poutine a présidé une réunion sur l'économie russe à Moscou.")
    assert "russia-ukraine" not in topics_of(classifier, body)


def test_iranian_protests_are_not_the_nuclear_deal(classifier):
    body = ("De nouvelles manifestations ont eu lieu à Téhéran après la mort de Mahsa Amini. "
            "La répression a fait des dizaines de morts, selon des ONG iraniennes.")
    assert "iran-deal" not in topics_of(classifier, body)


def test_a_dispatch_about_the_war_is_russia_ukraine(classifier):
    body = ("Les forces russes ont lancé une offensive sur Kharkiv jeudi. Kiev a appelé ses "
            "alliés à accélérer les livraisons d'armes à l'Ukraine face à l'invasion russe.")
    assert topics_of(classifier, body) == ["russia-ukraine"]


def test_a_dispatch_about_the_iaea_report_is_iran_deal(classifier):
    body = ("L'Iran a accru son stock d'uranium enrichi à 60 %, selon un rapport de l'AIEA "
            "consulté par l'AFP. Les négociations de Vienne sur l'accord nucléaire sont au "
            "point mort.")
    assert topics_of(classifier, body) == ["iran-deal"]


def test_sentences_are_marked_headline_lead_or_body_with_their_paragraph():
    lead = "Première phrase du chapeau, assez longue pour faire un vrai paragraphe de tête."
    sentences = sentences_of("Titre", f"{lead} Deuxième phrase.\n\nSuite du texte.")
    assert [(s.position, s.paragraph, s.text) for s in sentences] == [
        ("headline", 0, "Titre"), ("lead", 1, lead), ("lead", 1, "Deuxième phrase."),
        ("body", 2, "Suite du texte.")]


def test_a_dateline_paragraph_does_not_take_the_place_of_the_lead():
    body = "KABOUL (AFP) -\n\nLes derniers soldats américains ont quitté l'Afghanistan " \
           "lundi soir, a annoncé le Pentagone.\n\nSuite du texte."
    assert body[:lead_end(body)].endswith("a annoncé le Pentagone.")


def test_the_lead_stops_at_the_sentence_past_its_word_budget():
    first = " ".join(["mot"] * 80) + "."
    body = f"{first} Une phrase de trop.\n\nSuite."
    assert body[:lead_end(body)].strip() == first


def test_a_passing_mention_deep_in_a_dispatch_about_something_else_does_not_alert(
        classifier):
    body = ("Le festival de musique de Ségou a attiré des milliers de spectateurs samedi soir "
            "sur les berges du fleuve Niger.\n\nLes organisateurs se félicitent d'une édition "
            "record, malgré la crise économique.\n\nDepuis le départ des troupes françaises de "
            "l'opération Barkhane, la région a connu des années difficiles.\n\nLe festival "
            "se poursuit jusqu'à dimanche avec des concerts gratuits.")
    [withdrawal] = [s for s in classifier.score_topics(None, body) if s.topic == "withdrawal"]
    assert withdrawal.passing_mention and not withdrawal.matched
    assert withdrawal.evidence  # the evidence is still shown, to explain the low score


def test_the_same_withdrawal_as_the_subject_alerts(classifier):
    body = ("Les derniers soldats français de l'opération Barkhane ont quitté le Mali lundi, "
            "a annoncé l'état-major.\n\nLe départ des troupes met fin à neuf ans de présence "
            "militaire dans le pays.")
    assert "withdrawal" in topics_of(classifier, body)


def test_us_leaving_the_iran_deal_is_iran_deal_not_withdrawal(classifier):
    body = ("Donald Trump a annoncé le retrait des Etats-Unis de l'accord sur le nucléaire "
            "iranien et le rétablissement des sanctions contre Téhéran.\n\nL'Iran a dénoncé "
            "une violation de l'accord de Vienne de 2015 sur son programme nucléaire.")
    assert topics_of(classifier, body) == ["iran-deal"]


def test_requirements_accept_linked_entities():
    definition = TopicDefinition.model_validate({
        "topic": "piracy", "version": "1", "description": "test", "threshold": 0.5,
        "saturation": 2.0,
        "requires": [{"name": "somalia", "regex": "somalie", "entities": ["Q1045"]}],
        "patterns": [{"rule": "hijack", "weight": 3.0, "regex": "detourn\\w*"}]})
    classifier = TopicClassifier([definition])
    headline = "Un cargo détourné au large de Mogadiscio"
    [without] = classifier.score_topics(headline, "Suite.")
    [with_ids] = classifier.score_topics(headline, "Suite.", frozenset({"Q1045"}))
    assert without.missing_requirements == ("somalia",) and not without.matched
    assert with_ids.missing_requirements == () and with_ids.matched


def test_a_flash_of_one_sentence_alerts(classifier):
    headline = "FLASH - Les forces russes se retirent de Kherson (ministère russe de la Défense)"
    assert set(topics_of(classifier, headline, headline=headline)) == {
        "withdrawal", "russia-ukraine"}


def test_a_withdrawal_named_as_a_time_reference_is_background(classifier):
    body = ("Des centaines de corps ont été découverts à Boutcha après le départ des troupes "
            "russes, a annoncé le parquet ukrainien.")
    [withdrawal] = [s for s in classifier.score_topics(None, body) if s.topic == "withdrawal"]
    assert not withdrawal.matched
    assert all("(background)" in e.rule for e in withdrawal.evidence if e.weight > 0)
    assert "russia-ukraine" in topics_of(classifier, body)


@pytest.mark.parametrize("text", [
    "Le département du Nord a voté son budget à partir de 2025, a annoncé le président.",
    "Les forces de l'ordre se sont retirées de la place après la dispersion des manifestants.",
    "Le film retrace la vie de soldats français partis en Algérie en 1956.",
    "Le ministre des Armées a annoncé son départ du gouvernement.",
    "Les talibans ont quitté la table des négociations à Doha, a-t-on appris jeudi.",
    "Depuis que les soldats américains ont quitté Kaboul, les Afghanes sont privées "
    "d'école.",
])
def test_lookalikes_of_withdrawal_do_not_alert(classifier, text):
    assert "withdrawal" not in topics_of(classifier, text, headline=text)


def test_parts_of_a_rule_must_stand_near_each_other():
    definition = TopicDefinition.model_validate({
        "topic": "near", "version": "1", "description": "test", "threshold": 0.5,
        "saturation": 2.0,
        "patterns": [{"rule": "pair", "weight": 3.0, "all_of": ["troupes", "partent"],
                      "within": 3}]})
    classifier = TopicClassifier([definition])
    assert classifier.classify("Les troupes partent.", "Suite.")
    far = "Les troupes sont là depuis dix ans et les touristes partent."
    assert not classifier.classify(far, "Suite.")


def test_a_topic_sustained_through_the_body_is_a_subject_ranked_below_the_lead(classifier):
    paragraphs = ["Le sommet s'est ouvert jeudi à Bruxelles en présence des dirigeants "
                  "européens, qui doivent adopter un budget pour les années à venir."]
    paragraphs += [f"Point {n}: les frappes russes sur Kharkiv ont fait de nouvelles "
                   "victimes civiles, selon Kiev." for n in range(3)]
    paragraphs += ["Les discussions se poursuivront vendredi."]
    [score] = [s for s in classifier.score_topics("Sommet à Bruxelles", "\n\n".join(paragraphs))
               if s.topic == "russia-ukraine"]
    assert score.matched and score.salience == "body"
    [lead] = [s for s in classifier.score_topics(
        "Sommet à Bruxelles", "\n\n".join([paragraphs[1], *paragraphs[2:]]))
        if s.topic == "russia-ukraine"]
    assert lead.salience == "lead" and lead.score > score.score


def simple(topic: str, *patterns: dict) -> TopicDefinition:
    return TopicDefinition.model_validate({
        "topic": topic, "version": "1", "description": "test", "threshold": 0.5,
        "saturation": 2.0, "patterns": list(patterns)})


def test_many_definitions_score_each_as_it_would_alone(definitions, seed_dispatch):
    # Definitions share their prefilter, their common patterns and sentence values: each
    # must still score exactly as when it is the only one.
    troops = {"rule": "troops", "weight": 3.0, "regex": "troupes"}
    leave = {"rule": "leave", "weight": 1.0, "regex": "quitt\\w*"}
    by_topic = {d.topic: d for d in definitions}
    withdrawal, iran = by_topic["withdrawal"], by_topic["iran-deal"]
    variants = [
        *(d.model_copy(update={"topic": f"{d.topic}-copy"}) for d in definitions),
        withdrawal.model_copy(update={"topic": "fewer", "patterns": withdrawal.patterns[::2]}),
        withdrawal.model_copy(update={"topic": "reversed",
                                      "patterns": withdrawal.patterns[::-1]}),
        withdrawal.model_copy(update={"topic": "heavier", "patterns": [
            p.model_copy(update={"weight": p.weight * 2}) for p in withdrawal.patterns]}),
        withdrawal.model_copy(update={"topic": "no-background", "background": []}),
        withdrawal.model_copy(update={"topic": "softer-background", "background": [
            b.model_copy(update={"factor": 0.5}) for b in withdrawal.background]}),
        withdrawal.model_copy(update={"topic": "headline-light", "positions": (
            withdrawal.positions.model_copy(update={"headline": 0.5}))}),
        iran.model_copy(update={"topic": "no-requirement", "requires": []}),
        # The same patterns at other places: what is shared is the pattern, not its place.
        simple("pair", troops, leave),
        simple("pair-swapped", leave, troops),
    ]
    together = TopicClassifier([*definitions, *variants])
    texts = [(seed_dispatch.headline, seed_dispatch.body),
             ("Les troupes russes quittent Kherson",
              "Moscou a annoncé le retrait de ses troupes.\n\nDepuis le retrait, Kiev avance."),
             (None, "Donald Trump a annoncé le retrait des Etats-Unis de l'accord sur le "
                    "nucléaire iranien.")]
    for headline, body in texts:
        scores = {s.topic: s for s in together.score_topics(headline, body)}
        for definition in [*definitions, *variants]:
            [alone] = TopicClassifier([definition]).score_topics(headline, body)
            assert scores[definition.topic] == alone, definition.topic
