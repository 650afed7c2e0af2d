"""The rules that recognise crisis language (``intake.crisis.crisis_language_in``), in
English and Spanish: each names why it is crisis language and holds patterns for the
ways people say it, written against normalised text (lower case, no accents or
apostrophes, single spaces: ``clinic.text.words``). Reviewed with the clinical
team; tested against ``tests/intake/crisis_phrases/``. Widen a rule rather than list a
sentence.
"""

from __future__ import annotations


def _typos(*words: str) -> str:
    """``words`` and the slips a thumb makes in them (a letter left out, two letters
    swapped, a letter doubled), as one alternation. Only for long words, where a slip
    cannot make another common word."""
    variants: set[str] = set(words)
    for word in words:
        for index in range(len(word)):
            variants.add(word[:index] + word[index + 1 :])
            variants.add(word[:index] + word[index] + word[index:])
            if index + 1 < len(word):
                variants.add(word[:index] + word[index + 1] + word[index] + word[index + 2 :])
    return "(?:" + "|".join(sorted(variants, key=len, reverse=True)) + ")"


# Building blocks (the text is normalised: lower case, single spaces, no apostrophes).
_GAP1 = r"(?:\w+ )?"
_GAP2 = r"(?:\w+ ){0,2}?"
_GAP3 = r"(?:\w+ ){0,3}?"
_GAP4 = r"(?:\w+ ){0,4}?"
# Oneself, or someone else the writer is worried about.
_SELF = (
    r"(?:"
    + _typos("myself", "himself", "herself", "themselves")
    + r"|my self|me self|meself|themself|him self|her self)"
)
# "suicide", "suicidal", "suicidio", "suicidarme", "suicidas"... and their slips.
_SUICIDE_STEM = r"(?:" + _typos("suicid") + r"|suisid|suecid|suiscid|sewerslide)\w*"
_PILLS = (
    r"(?:pills?|tablets?|meds|medications?|medicines?|sleeping pills|painkillers|opioids|"
    r"oxy\w*|tylenol|advil|aspirin|insulin|xanax|pastillas|pildoras|medicinas|"
    r"medicamentos|tabletas)"
)
_QUIERO = r"(?:quiero|kiero|qiero|quero|qero)"
# Where a thought ends: the end of the sentence, or a word people run on with ("I can't
# go on please help", "ya no aguanto ayuda"), but not "I can't go on Tuesday".
_END = (
    r"(?=$| (?:please|pls|plz|help|and|but|so|i|im|honestly|really|anymore|any more|"
    r"any longer|no more|much longer|like this|por favor|ayuda|ayudenme|y|pero|ya|de verdad|"
    r"mas|asi)\b)"
)

# Informational uses ("the suicide risk of SSRIs", "riesgo de suicidio"): a question
# about a medicine or an article is not a crisis. Everything else about suicide is.
_SUICIDE = (
    r"(?<!risk of )(?<!risks of )(?<!rate of )(?<!rates of )(?<!prevention of )"
    r"(?<!prevent )(?<!riesgo de )(?<!riesgos de )(?<!tasa de )(?<!tasas de )"
    r"(?<!prevencion del )(?<!prevencion de )(?<!prevenir el )(?<!signs of )"
    r"(?<!risk factors for )(?<!causes of )(?<!statistics on )(?<!research on )"
    r"(?<!senales de )(?<!causas del )(?<!causas de )"
    + _SUICIDE_STEM
    + r"(?! (?:risk|risks|rate|rates|prevention|awareness|warning|warnings|statistics|stats|"
    r"research|study|studies|hotline|lifeline|line|data|numbers|screening|month|week|"
    r"article|articles)\b)"
)

# Each rule names why it is crisis language and holds its patterns; a match of any
# pattern in any sentence is enough. English first, then Spanish.
RULES_EN: dict[str, tuple[str, ...]] = {
    "suicide, killing oneself": (
        _SUICIDE,
        r"kms|unaliv\w*",
        # kill, hurt, hang... oneself (not "shoot myself in the foot", "cut myself a slice").
        r"(?:kill|kil|kll|killin|killing|kiling|killed|kills|off|offing|offed|end|ending|"
        r"ended|hang|hanging|hung|hanged|shoot|shooting|shot|poison|poisoning|poisoned|"
        r"stab|stabbing|stabbed|hurt|hurting|hurts|harm|harming|harmed|cut|cutting|cuts|"
        r"burn|burning|burnt|starve|starving|starved|suffocate|suffocating|electrocute|"
        r"strangle|strangling|choke|choking|injure|injuring|injured|mutilate|mutilating|"
        r"drown|drowning|drowned|bleed|bleeding|overdose|overdosing|gas|gassing|slash|"
        r"slashing) " + _SELF + r"(?! (?:in the foot|a slice|a piece|some slack|off|out)\b)"
        r"(?! in (?:work|wine|coffee|tea|chocolate|books|music|paperwork|tv|netflix)\b)",
        r"(?:end|ending|ended|take|taking|took|tak) (?:my|his|her|their) (?:own )?li(?:fe|ves)"
        r"(?! (?:back|forward|into|in a|in my|to the|one|more|seriously|day|step|in hand)\b)",
        r"end(?:ing|ed)? (?:it all|everything|my existence|it for good|things for good)"
        r"|end it (?:tonight|today|now|soon|forever|this week|once and for all)\b|end it" + _END,
        r"(?:want|wanna|wish|need|needs|wants) (?:it all|everything|all of (?:it|this)|"
        r"this all|my life|life|it) to (?:end|stop|be over|finish)\b",
    ),
    "wanting to die or not to exist": (
        r"(?:want|wants|wanted|wanting|ready|going|deserve|deserves|need|needs|plan|"
        r"planning|planned|plans|trying|tried|try|about|like|longing|long|wish|wishing|hope|"
        r"hoping|pray|praying|meant|chose|choose|decided|rather|prefer|"
        + _typos("want", "wanted", "wanting", "planning", "ready", "going", "trying")
        + r") "
        + _GAP1
        + r"(?:to|2) (?:just )?(?:die|be dead)"
        r"(?! (?:for|of|laughing|from|on|at|to|with embarrassment|a little)\b)",
        r"(?:wanna|gonna) (?:just )?(?:die|be dead)(?! (?:for|of|laughing|from)\b)",
        r"better off (?:not (?:existing|alive|here|being here|being alive|around)|gone|"
        r"never born)",
        r"(?:wish|wishing|hope|hoping|pray|praying)\w* (?:that )?(?:i|id) (?:was |were |could "
        r"|would |had |d )?(?:just )?(?:die|died|be dead|dead)\b",
        r"(?:wish|wishing)\w* (?:i|id|he|she) " + _GAP2 + r"(?:never (?:been )?born|"
        r"never existed|didnt exist|did not exist|wasnt born|was not born|werent born|"
        r"wasnt alive|could disappear|would disappear|wouldnt wake up|would not wake up|"
        r"had died|was gone|were gone)",
        r"(?:rather|sooner) (?:just )?(?:die|be dead)(?! than (?!(?:keep|continue|go on|live|"
        r"living|be alive|feel|feeling|wake|suffer|face|spend|deal|another day)\b))",
        r"better off dead",
        r"(?:dont|do not|didnt|did not|dont even|never|no longer|doesnt|does not) "
        r"(?:want|wanna|wish|wants|like) (?:to )?(?:be )?(?:alive|exist|existing|continue|"
        r"go on|wake up|live(?! (?:with|in|at|near|there|alone|on|far|close|together|by)\b)|"
        r"living(?! (?:with|in|at|near|there|alone|on)\b))",
        r"(?:dont|do not|doesnt|does not|never) (?:want|wanna|wants) (?:to )?be "
        r"(?:here|around) (?:anymore|any more|n e more|no more|much longer|tomorrow|"
        r"on this earth|in this world)",
        r"(?:stop|quit|cease|stopped) (?:existing|being alive|living"
        r"(?! (?:in|with|for|on|off|like that|at|here|there)\b))",
        r"(?:hope|hoping|pray|praying|wish|wishing)\w* (?:that )?(?:i|he|she) (?:dont|do not|"
        r"wont|will not|never|wouldnt|would not|dont ever) wake up",
        r"(?:sleep|bed|asleep) and (?:never|not) (?:ever )?wake up",
        r"(?:and|to) never wake up(?! (?:on time|early|late|before|at|in time)\b)",
        r"disappear\w* (?:forever|for good|permanently|for ever|from (?:this|the) world|"
        r"and never come back)",
        r"(?:wish|wishing)\w* (?:i|id) (?:could|would) (?:just )?(?:disappear|vanish|die|"
        r"not exist|stop existing|(?:go to )?sleep forever|fall asleep forever)",
        r"(?:want|wanna|wish|need|ready|like) (?:to )?(?:just )?(?:go to |fall )?(?:sleep|"
        r"asleep) (?:forever|for ever|permanently|for good)",
        r"feel\w* like (?:dying(?! (?:my|her|his|the|it) \w+)|death|killing myself|ending it)",
        r"(?:if|whether) (?:i|he|she) (?:live|lives|living) or (?:die|dies|dying)",
        r"(?:leave|leaving|left|exit|exiting|quit|quitting) this (?:world|earth|life)\b",
        r"(?:made|make|making) (?:my )?peace with (?:dying|death|leaving|ending it|the end)",
        r"(?:picture|picturing|imagine|imagining|visuali\w*|see|seeing|dream\w* (?:of|about)) "
        + _SELF
        + r" (?:hanging|dead|dying|jumping|in a coffin|at my (?:own )?funeral|bleeding|"
        r"overdosing|shooting|drowning|with a gun)",
        r"(?:thoughts?|thinking|think|thought|fantasi\w*|dream\w*|obsess\w*) "
        + _GAP2
        + r"(?:about|of) (?:not being (?:here|alive|around)|dying(?! (?:my|her|his|the) \w+)"
        r"|death|being dead|killing (?:myself|me)|(?:just )?ending (?:it|my life|things|"
        r"everything)|"
        r"not existing|not waking up|disappearing forever|my (?:own )?(?:death|funeral))\b",
        r"dark thoughts",
    ),
    "no point or reason in living, hopelessness": (
        # a negation, then point / reason / will..., then living / going on.
        r"(?:no|not|dont|cant|cannot|never|without|lost|lose|losing|zero|nothing|whats|"
        r"what is|isnt|aint|no longer|lack|lacking) "
        + _GAP4
        + r"(?:point|reason|reasons|purpose|sense|meaning|use|will|motivation|desire|hope|"
        r"wish) "
        + _GAP3
        + r"(?:live|living|life|alive|go on|going on|carry on|carrying on|keep going|"
        r"continue|continuing|exist|existing|existence|wake up|waking up|stay alive|"
        r"staying alive|be here|being here)\b",
        r"(?:no|whats|what is|dont|cant|not) " + _GAP2 + r"(?:point|reason|purpose|use|"
        r"meaning) (?:\w+ ){0,2}?(?:anymore|any more)",
        r"(?:no|whats|what is|dont|cant|not) " + _GAP2 + r"(?:point|purpose|meaning) (?:to|in|"
        r"of) (?:anything|everything)",
        r"nothing (?:left )?(?:to|worth) (?:live|living|stay alive|go on|going on)",
        r"(?:not|isnt|no longer|never|aint|hardly) worth (?:living|being alive|going on|"
        r"continuing|the pain|it anymore)",
        r"(?:life|living|my life|it all|existence) " + _GAP2 + r"(?:not|isnt|no longer|aint) "
        r"worth",
        r"life (?:is|feels|seems|has been|s|is just|has become|became) (?:so |completely |"
        r"totally |just |really |utterly |already )?(?:pointless|meaningless|worthless|"
        r"hopeless|over|empty|a waste|unbearable|not worth \w+|too much to bear)",
        r"(?:life|living|existence) (?:has|holds|s got|has got|has had) no "
        r"(?:meaning|purpose|point|value|reason)",
        r"(?:cant|cannot|can not|couldnt|unable to|cant even|dont think i can|no longer) "
        r"(?:go on|keep going|carry on|continue|keep living|keep on|live like this|cope|"
        r"take (?:it|this|any of this|much more|the pain|life)|handle (?:it|this|life|any of "
        r"this|living)|bear (?:it|this|life|living)|stand (?:it|this|life|living|being alive)|"
        r"do (?:this|it|life|any of this|this life))"
        r"(?:(?= (?:\w+ ){0,2}?(?:anymore|any more|no more|much longer|like this|n e more)\b)|"
        + _END
        + ")",
        r"(?:tired|sick|weary|exhausted|done|fed up|finished) (?:of|with) (?:living(?! "
        r"(?:paycheck|in|with|at|near|here|there|alone|like that|on|off)\b)|life|being alive|"
        r"existing|my life|it all|everything|being here|waking up|this life)",
        r"done (?:living|being alive|existing)",
        r"hate (?:being alive|existing|my existence|that i exist|waking up|living"
        r"(?! (?:in|with|at|near|here|there|alone)\b))",
        r"(?:give|giving|gave|given) up on (?:life|living|everything|myself|it all)",
        r"(?:not sure|unsure|dont know|do not know|doubt|wonder|wondering|question\w*) "
        r"(?:if |whether |that )?" + _GAP2 + r"worth (?:living|being alive|going on|it anymore)",
        r"(?:pain|suffering|it|this|everything) to (?:end|stop) (?:forever|for good|"
        r"permanently|once and for all)",
        r"end (?:my|this) (?:suffering|misery)",
        r"end(?:ing)? things(?! (?:with|between|on|off|at|for)\b)",
        r"(?:no|not any|see no|find no|cant see a|cant find a|dont see a|dont see any) way out"
        r"(?: of (?:this|it all|life|this life|this pain|my life))?" + _END,
        r"death (?:is|seems|feels like) (?:the|my) (?:only|best|easiest) (?:way|option|answer|"
        r"choice|solution|way out)",
        r"i (?:just )?want out" + _END,
        r"(?:feel|feeling|felt|im|i am|am|completely|totally|utterly) hopeless(?! (?:at|with)\b)",
        r"(?:no|lost all|lost|lost my|without|zero|not any|any|no more) hope(?:(?= (?:left|"
        r"for me|at all|in life|for the future|of getting better)\b)|" + _END + ")",
    ),
    "being a burden": (
        r"(?:im|i am|i m|i feel|feel like|feeling like|felt like|being|nothing but|am) "
        + _GAP2
        + r"burden\b",
        r"burden (?:to|on|for) (?:everyone|everybody|my \w+|them|others|people|the people|"
        r"all|you|him|her|those)",
        r"(?:better|happier|easier|fine|okay|ok|safer|freer|relieved|lighter) (?:off )?"
        + _GAP2
        + r"(?:without me|if i "
        + _GAP2
        + r"(?:gone|dead|not here|not around|wasnt here|werent here|wasnt around|"
        r"werent around|died|disappeared|never existed|never born|didnt exist|killed myself|"
        r"left for good|wasnt alive|werent alive)|when im gone|once im gone)",
        r"(?:everyone|everybody|they|theyd|people|the world|all|everyone else|my (?:family|"
        r"kids|children|husband|wife|partner|parents|mom|dad|friends)) (?:would |will |d |"
        r"wd )?(?:all )?(?:be )?better off(?! with\b)(?! \w+ with\b)",
        r"(?:nobody|no one|noone|no body|not a soul|none of them) "
        + _GAP2
        + r"(?:miss|notice|care|mourn|cry)\w*(?: me\b| "
        + _GAP3
        + r"(?:if|when|once|that|after) "
        + _GAP2
        + r"(?:gone|died|die|dead|disappeared|disappear|left|kill\w*|not here|wasnt here|"
        r"werent here))",
    ),
    "a method": (
        r"(?:sav\w*|stockpil\w*|hoard\w*|stash\w*|collecting|collected|gathering|gathered|"
        r"hiding|hid) "
        + _GAP2
        + _PILLS
        + r"(?! (?:from|at) (?:the |my )?(?:pharmacy|drugstore|store|doctor|kids|children|"
        r"toddler|grandkids|dog|cat)\b)",
        _PILLS + r" (?:saved|stockpiled|hoarded|stashed|put aside|set aside|ready|lined up|"
        r"laid out|counted out|in front of me)",
        r"(?:the|my) (?:rope|gun|knife|blade|razor) (?:is )?(?:ready|loaded|in front of me)",
        r"better off with (?:the|my) (?:life )?insurance|(?:collect|get|cash in|have) (?:on )?"
        r"(?:my|the) life insurance",
        r"(?:thinking (?:about|of)|think about|thought about|going to|gonna|want to|wanna|"
        r"planning to|plan to|tempted to|considering|might|urge to|ready to) (?:just )?"
        r"(?:take|taking|swallow\w*) (?:all|every|the rest)\w* (?:of )?(?:my |the |his |her )?"
        r"(?:\w+ )?" + _PILLS,
        # Taking every pill: swallowing any heap, or taking all of them at once.
        r"(?:swallow\w*|downed|chug\w*|gulp\w*) " + _GAP2 + r"(?:all|every|whole|entire|"
        r"handful\w*|bunch|bottle|box|too many|enough|fistful\w*|dozens?|hundreds?) "
        + _GAP3
        + _PILLS,
        r"(?:take|took|taking|tak|ate|eat|eating) " + _GAP2 + r"(?:whole|entire|handful\w*|"
        r"bunch|too many|fistful\w*|dozens?|hundreds?|bottle|box) " + _GAP3 + _PILLS,
        r"(?:take|took|taking|tak|swallow\w*) (?:all|every) (?:of )?(?:my |the |his |her )?"
        r"(?:\w+ )?" + _PILLS + r" (?:at once|together|in one go|at the same time|tonight)",
        r"(?:took|take|taking|swallow\w*|drank|drink|drinking) (?:a|the|an) (?:whole|entire|"
        r"full) bottle",
        r"(?<!risk of )overdos(?:e|ed|es|ing)(?! (?:a )?(?:risk|prevention|symptoms|signs|"
        r"deaths|rates?|crisis|epidemic|danger|warning)\b)|over dos(?:e|ed|ing)",
        r"(?:going to|gonna|want to|wanna|will|to) od\b|od (?:on|tonight|today)\b",
        r"(?:lethal|fatal|deadly) (?:dose|amount|overdose|quantity)",
        r"how many " + _GAP2 + r"(?:would it take|does it take|will it take|would kill|"
        r"will kill|to (?:die|kill|overdose|od|end it))",
        r"how (?:many|much) "
        + _GAP1
        + _PILLS
        + r" (?:it )?(?:takes|would take|will take)(?! (?:to (?:work|kick in|help|start)|for "
        r"(?:it|them|the|a|an)|a day|per day|daily|each day|at once for)\b)",
        r"(?:painless|easiest|quickest|fastest|best|quietest|surest|peaceful|easy|quick|"
        r"simplest) (?:way|ways|method|methods|death) (?:to (?:die|kill|end|go)|of (?:dying|"
        r"suicide|killing)|out)",
        r"(?:research\w*|look\w* up|google\w*|search\w*|read\w* about|find\w* out|learn\w*) "
        + _GAP2
        + r"(?:how to|ways to|methods (?:to|of)) (?:die|kill|end|overdose|hang|commit)",
        r"noose",
        r"(?:bought|buy|buying|got|get|have|tied|tie|tying|made|found|hung|hang\w*) (?:a |the "
        r"|some )?rope(?! (?:for (?:camping|climbing|the boat|my boat|the garden|the dog)|"
        r"swing|course|ladder|bridge)\b)",
        r"(?:gun|pistol|revolver|rifle|firearm|shotgun|bullets?) "
        + _GAP2
        + r"(?:to|against|in|into|through) (?:my|his|her|their) (?:head|mouth|temple|chest|"
        r"brain|skull|heart)",
        r"(?:almost|nearly|came close to|close to) (?:jump\w*(?! (?:out|up|at|for|in|into|on|"
        r"when|with|back|over|ahead|the gun|to conclusions)\b)|(?:did|done) it"
        + _END
        + r"|(?:did|done) it (?:last night|yesterday|today|tonight|again|this (?:time|week|"
        r"morning|weekend))\b|ended it|"
        r"end\w* (?:it|it all|my life)|kill\w* "
        + _SELF
        + r"|overdos\w*|hung "
        + _SELF
        + r"|hanged "
        + _SELF
        + r")",
        r"(?:use|using|used|turn|turning|turned) (?:it|them|the gun|a gun|this|that) on " + _SELF,
        r"(?:bought|buy|buying|got|get|getting) (?:a|myself a) (?:gun|pistol|revolver|"
        r"firearm|shotgun)",
        r"(?:jump\w*|leap\w*|throw\w* " + _SELF + r"|threw " + _SELF + r") (?:off|from|out of|"
        r"of|in front of) (?:a |the |my |this |an )?(?:\w+ )?(?:bridge|building|roof|rooftop|"
        r"balcony|cliff|window|ledge|overpass|tower|train|car|bus|truck|traffic|subway|"
        r"parking garage|highway|freeway|tracks)",
        r"(?:jump\w*|walk\w*|step\w*|drive|drove|driving) into (?:oncoming )?traffic",
        r"(?:step\w*|walk\w*|lie|lay|lying|laying|stand\w*|run\w*|ran|throw\w* "
        + _SELF
        + r") (?:out )?in front of (?:a|the|an|some) (?:\w+ )?(?:train|bus|truck|car|subway|"
        r"traffic|lorry|semi)",
        r"(?:drive|drove|driving|crash\w*|steer\w*|swerv\w*) "
        + _GAP3
        + r"(?:off|into) (?:a|the|an|oncoming) (?:\w+ )?(?:cliff|bridge|wall|tree|truck|"
        r"traffic|river|lake|pole|ravine|overpass)",
        r"(?:slit|slash|slashed|slashing) (?:my|his|her|their) \w+",
        r"(?:cut|cutting|cuts) (?:my|his|her|their) (?:wrists?|veins|throat|arms?|legs?|"
        r"thighs?|skin|stomach)",
        r"(?:open|opened|opening) (?:my|his|her|their) (?:wrists?|veins)",
    ),
    "a farewell": (
        r"(?:goodbye|good bye|farewell|goodby) (?:letters?|notes?|messages?|videos?|texts?|"
        r"posts?|emails?)",
        r"(?:saying|say|said|sayin) (?:my )?(?:last |final )?goodbyes",
        r"this is (?:my )?(?:final |last )?goodbye",
        r"this (?:is|will be) (?:my )?(?:final|last) (?:message|text|post|email|note|words?)"
        + _END,
        r"(?:saying|said|say) goodbye" + _END,
        r"last (?:time|message|text|words?|email) " + _GAP2 + r"(?:hear|see|talk to|speak to|"
        r"hear from) (?:from )?me",
        r"(?:goodbye|good bye|farewell) (?:everyone|everybody|world|cruel world|forever|"
        r"for good|for ever)",
        r"dont think (?:ill|i will|im going to|im gonna|i can) (?:be|stay) (?:around|here|"
        r"alive)",
        r"(?:say|saying|said|sayin) (?:my )?goodbye to (?:everyone|everybody|my (?:family|kids|"
        r"children|friends|loved ones|parents|mom|dad|wife|husband)|you all|the world|all of "
        r"you|this world|life)",
        r"(?:giv\w*|gave) away (?:all )?(?:of )?(?:my|his|her) (?:\w+ )?(?:things|stuff|"
        r"belongings|possessions|pets?|cat|dog)",
        r"(?:put\w*|get\w*|got|set\w*) " + _GAP2 + r"affairs in order",
        r"(?:wont|will not|not going to|may not|might not|not gonna|wont even) be (?:around|"
        r"here|alive) (?:much longer|for much longer|long|tomorrow|by tomorrow|next week|"
        r"anymore|any more|for long|after tonight|by morning|to see)",
        r"by the time (?:you|anyone|someone|they) "
        + _GAP2
        + r"(?:read|reads|see|sees|get|gets|find|finds) (?:this|it)",
        r"(?:wont|will not|never) (?:\w+ )?hear from me (?:again|ever again)",
        r"(?:when|after|once|if) (?:im|i am|i m) (?:gone|dead|no longer (?:here|around|alive))"
        r"(?! (?:for|on|to|at|from|away|next|this)\b)",
    ),
    "self-harm": (
        r"self ?harm\w*|self ?injur\w*|self ?mutilat\w*",
        r"(?:son|daughter|child|kid|teen|teenager|boy|girl|brother|sister|friend|wife|husband|"
        r"partner|girlfriend|boyfriend|student) (?:is|has been|keeps|started|was|s been) "
        r"cutting(?! (?:back|down|out|class|school|costs|corners|hair|the|her hair|his hair)\b)",
        r"(?:cut|cutting|burn|burning|hurt|hurting) (?:myself )?(?:to (?:feel|cope|punish|"
        r"release|forget|numb)|so i can feel)",
        r"(?:started|start|starting|keep|kept|been|stop|stopped|relaps\w*|back to|urge to|"
        r"urges to|urge of) (?:\w+ )?cutting(?:(?= (?:again|myself|to cope|to feel|deeper|when|"
        r"every|at night|my (?:arms|legs|wrists|skin|thighs|stomach))\b)|" + _END + ")",
    ),
    "a plan": (
        r"(?:a|my|the) plan " + _GAP2 + r"(?:to|for|of|how to) (?:end (?:my life|it|it all|"
        r"things|everything)\b(?! with\b)|kill|die|dying|suicide|take my (?:own )?life|hang|"
        r"overdose|jump|shoot)",
        r"(?:decided|decide|made up my mind|going|gonna|ready|plan\w*) to end it\b"
        r"(?! (?:with|between)\b)",
    ),
}

RULES_ES: dict[str, tuple[str, ...]] = {
    "suicidio, matarse": (
        r"matarme|matarse|suicidarme|suicidarse",
        r"me (?:" + _QUIERO + r"|voy a|pienso|puedo|quisiera|deberia|iba a|queria) "
        r"(?:a )?(?:matar|suicidar)",
        r"se (?:quiere|quieren|va a|van a|queria|quiso|intento|iba a) (?:a )?(?:matar|"
        r"suicidar)",
        r"me mataria|me voy a matar",
        r"quitar(?:me|se|le)? la vida",
        r"(?:acabar|terminar|poner fin|ponerle fin|finalizar|acabo|termino) (?:con )?(?:a )?"
        r"(?:mi|su) (?:propia )?vida",
        r"(?:acabar|terminar|acabo|termino) con todo(?! (?:el|lo|la|los|las)\b)",
    ),
    "querer morir o no existir": (
        r"(?:"
        + _QUIERO
        + r"|quisiera|deseo|desearia|ganas de|prefiero|preferiria|quiere|quieren|queria|"
        r"necesito|voy a|me dan ganas de) "
        + _GAP1
        + r"morir(?:me|se|nos)?(?! de (?:risa|hambre|ganas|sueno|frio|calor|verguenza|"
        r"aburrimiento|envidia|amor|cansancio|nervios|miedo|emocion|la risa|vieja|viejo)\b)",
        r"ojala " + _GAP2 + r"(?:muriera|muera|muriese|estuviera muert[oa]|no despert\w*|"
        r"no existiera|no hubiera nacido|nunca hubiera nacido|desapareciera)",
        r"(?:prefiero|preferiria|quisiera|" + _QUIERO + r"|deseo|mejor) (?:estar )?muert[oa]s?",
        r"mejor me muero|mejor morir(?:me)?",
        r"no (?:"
        + _QUIERO
        + r"|quisiera|deseo|tengo ganas de|me dan ganas de) (?:seguir )?(?:vivir|viviendo|"
        r"estar viv[oa]|existir|despertar\w*|seguir aqui|estar aqui|seguir en este mundo|"
        r"seguir adelante)(?! (?:con|en|cerca|alla|alli|solo|sola|lejos)\b)",
        r"(?:dormir|dormirme) y no despertar|no despertar\w* (?:nunca|jamas|mas)",
        r"dejar de (?:existir|respirar|estar viv[oa]|estar aqui|vivir(?! (?:en|con|cerca)\b))",
        r"(?:quisiera|ojala|desearia|deseo|preferiria) (?:no )?(?:haber|hubiera) (?:no )?nacido"
        r"|(?:no|nunca) (?:debi|debio|debiste|deberia) (?:haber )?nac(?:er|ido)",
        r"(?:irme|ir|irse|salir|marcharme|partir|me voy|me quiero ir|dejar) (?:de )?este "
        r"mundo",
        r"desaparecer\w* (?:para siempre|del mundo|de este mundo|de una vez)|"
        + _QUIERO
        + r" desaparecer"
        + _END,
    ),
    "sin sentido ni razon para vivir, desesperanza": (
        r"(?:no|ni|sin|nada|ningun\w*|para que|de que sirve|que sentido|perdi|he perdido|"
        r"ya no) "
        + _GAP4
        + r"(?:sentido|razon|razones|motivo|motivos|proposito|ganas|fuerzas) "
        + _GAP4
        + r"(?:vivir|viviendo|vida|existir|estar viv[oa]|continuar|despertar|seguir"
        r"(?! (?:con|pagando|esperando|trabajando|estudiando|en (?:el|la|este|esta))\b))",
        r"sentido a nada",
        r"no (?:tengo|hay|veo) (?:por que|por quien|para que) (?:seguir|vivir|estar viv[oa])",
        r"(?:la vida|mi vida|vivir|existir|mi existencia) "
        + _GAP2
        + r"no tiene (?:sentido|proposito|valor)",
        r"(?:no|ya no) vale la pena (?:vivir|seguir|la vida|estar viv[oa]|nada)",
        r"(?:la vida|mi vida|vivir|existir|seguir viviendo) " + _GAP2 + r"no vale la pena",
        r"no (?:veo|hay|encuentro|tengo) (?:otra |ninguna )?salida(?: (?:a esto|a mi vida|"
        r"de esto))?" + _END,
        r"para que (?:seguir|vivir|sigo|vivo|despertar)(?! (?:con|pagando|esperando|"
        r"trabajando|estudiando)\b)",
        r"de que sirve (?:seguir|vivir|la vida|estar viv[oa])",
        r"(?:no|ya no) (?:aguanto|soporto|resisto|puedo|doy|tolero) mas(?=$| (?!con\b|de\b)| con "
        r"(?:esta vida|mi vida|la vida|todo|esto|nada|mi existencia)\b| de (?:tristeza|dolor|"
        r"pena|angustia|soledad|vivir)\b)",
        r"(?:no|ya no) (?:aguanto|soporto|resisto)(?:(?= (?:esta vida|la vida|vivir|seguir asi|"
        r"nada)\b)|" + _END + ")",
        r"no (?:puedo|podre) (?:seguir|continuar)(?:(?= (?:viviendo|adelante)\b)|" + _END + ")",
        r"(?:cansad[oa]s?|hart[oa]s?|agotad[oa]s?|fastidiad[oa]s?) de (?:vivir|la vida|"
        r"existir|todo|estar viv[oa]|mi vida|seguir viviendo)",
        r"(?:no tengo|sin|perdi|ya no tengo|no hay|he perdido|no me queda|no queda) (?:toda |"
        r"ninguna |nada de )?(?:la )?esperanzas?",
    ),
    "ser una carga": (
        r"(?:soy|ser|siento que soy|me siento|sere|he sido|solo soy|me siento como) "
        + _GAP2
        + r"(?:carga|estorbo|peso muerto|lastre)",
        r"mejor sin mi",
        r"mejor si (?:yo )?(?:no (?:estuviera|existiera|estoy|existo)|me muero|me muriera|"
        r"desapareciera|desaparezco)",
        r"(?:nadie|ninguno|ninguna) (?:me |lo |la )?(?:extranaria|extranara|echaria de menos|"
        r"notaria|lloraria|se daria cuenta)(?! (?:de )?la diferencia\b)",
        r"a nadie le (?:importaria|importa|importara) (?:si|que) "
        + _GAP2
        + r"(?:muero|muriera|muera|desaparezco|desapareciera|no estoy|no estuviera|me mato|"
        r"me matara)",
    ),
    "un metodo": (
        r"(?:juntando|juntado|junte|guardando|guardado|acumulando|acumulado|ahorrando|"
        r"coleccionando|reuniendo|escondiendo|escondido) " + _GAP2 + _PILLS,
        r"(?:tomarme|tomar|tome|tomo|tragarme|tragar|trague|me tome|me trague|me voy a tomar) "
        + _GAP2
        + r"(?:todas|muchas|un monton|un punado|varias cajas) (?:de )?(?:las |mis |los |sus )?"
        + _PILLS,
        r"(?:tomarme|tomar|tome|tomo|tragarme|tragar|trague|me tome|me trague|me voy a tomar) "
        + _GAP2
        + r"(?:un|el|todo el|una) (?:frasco|bote|caja)",
        r"(?<!riesgo de )sobredosis",
        r"(?:tirarme|aventarme|lanzarme|arrojarme|botarme|saltar|me tiro|me aviento|me lanzo|"
        r"tirarse|aventarse|lanzarse) (?:\w+ )?(?:de|desde|del|por|al|a las?|bajo|frente a) "
        r"(?:un |una |el |la |los |las |mi )?(?:puente|edificio|techo|azotea|ventana|balcon|"
        r"acantilado|tren|metro|vias|carro|coche|camion|trafico|rio|piso)",
        r"ahorcar(?:me|se)|colgar(?:me|se)(?! (?:el|la|los|las|un|una)\b)|me voy a colgar|soga",
        r"cortar(?:me|se) (?:las venas|los brazos|las munecas|la piel|las piernas|los muslos)|"
        r"me corto (?:las venas|los brazos|las munecas|la piel|las piernas)|(?:me )?(?:hago|"
        r"hice|hacerme|haciendome) cortes|cortarme"
        + _END
        + r"|me estoy cortando(?! (?:el|la|las|los) "
        r"(?:pelo|cabello|unas)\b)",
        r"(?:pistola|arma|revolver) " + _GAP2 + r"(?:en|contra) (?:la|mi) (?:cabeza|sien|boca)",
    ),
    "una despedida": (
        r"(?:cartas?|mensajes?|notas?) (?:de )?(?:despedida|suicida)",
        r"(?:me estoy despidiendo|despedirme|me despido|despidiendome|me despedi|me he "
        r"despedido|ya me despedi) de (?:todos|todo el mundo"
        r"|mi familia|mis hijos|ustedes|la vida|este mundo|mis seres queridos|mis amigos|todas)"
        r"|me estoy despidiendo" + _END,
        r"este es mi (?:ultimo )?adios|adios para siempre|mi ultimo adios",
        r"(?:regalando|regale|regalar|voy a regalar|he regalado|estoy dando|di) (?:todas )?"
        r"(?:mis|todas mis) cosas",
        r"ya no (?:estare|voy a estar) (?:aqui|viv[oa]|con ustedes|en este mundo)|"
        r"no (?:estare|voy a estar) (?:aqui|viv[oa]) (?:por )?mucho tiempo",
        r"cuando (?:yo )?(?:ya )?no este(?: (?:aqui|viv[oa]|mas)\b|" + _END + r")|cuando me muera",
    ),
    "autolesion": (
        r"auto ?lesi\w*",
        r"(?:me )?(?:estoy )?lastimando(?:me)?|lastimarme|lastimarse|me lastimo|"
        r"hacer(?:me|se) dano|me hago dano",
        r"me corto (?:para|cuando|otra vez|de nuevo|todos los dias|a veces|seguido|con)\b",
        r"(?:hijo|hija|nino|nina|hermano|hermana|esposo|esposa|novio|novia|amigo|amiga|pareja|"
        r"adolescente) se (?:esta )?(?:cortando|corta|lastima|lastimando|hace dano|hace cortes)"
        r"(?! (?:el|la|las|los) (?:pelo|cabello|unas|barba)\b)",
    ),
    "un plan": (
        r"(?:un|mi|el) plan (?:\w+ )?(?:para|de) (?:matarme|morir|suicidarme|quitarme|acabar|"
        r"terminar|hacerlo)",
        r"(?:ideas|pensamientos) (?:de )?(?:muerte|morir|matarme|quitarme)",
    ),
}
