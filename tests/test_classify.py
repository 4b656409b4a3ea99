"""Topic classification: the seed's topics, scores with evidence, and hard negatives."""

from __future__ import annotations

import pytest

from streams.classify import sentences_of


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


def test_sentences_are_marked_headline_lead_or_body():
    sentences = sentences_of("Titre", "Première phrase. Deuxième phrase.\n\nSuite du texte.")
    assert [(s.position, s.text) for s in sentences] == [
        ("headline", "Titre"), ("lead", "Première phrase."), ("lead", "Deuxième phrase."),
        ("body", "Suite du texte.")]


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


def test_requirements_accept_linked_entities(classifier):
    # "l'Etat hébreu" names no side by a phrase; the linked entities say who is involved
    body = ("Les forces de Moscou ont bombardé la capitale dans la nuit, faisant douze morts."
            "\n\nLes frappes ont visé des infrastructures énergétiques, selon les autorités.")
    without = [s for s in classifier.score_topics(None, body) if s.topic == "russia-ukraine"]
    with_ids = [s for s in classifier.score_topics(None, body, frozenset({"Q212"}))
                if s.topic == "russia-ukraine"]
    assert without[0].missing_requirements == ("ukraine-side",)
    assert with_ids[0].missing_requirements == ()
