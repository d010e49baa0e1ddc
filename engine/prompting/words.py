"""The words the prompt composer knows: styles, times and weather, and the patterns that find them.

Plain data and regular expressions, kept apart from the rules in `engine.prompting.composer` that use them.
"""

from __future__ import annotations

import re

# Style words (longest first when matching) → the phrase that goes into the prompt.
STYLES: dict[str, str] = {
    "watercolour": "watercolor painting",
    "watercolor": "watercolor painting",
    "oil painting": "oil painting",
    "acrylic": "acrylic painting",
    "pixel art": "pixel art",
    "8-bit": "8-bit pixel art",
    "anime": "anime style",
    "manga": "manga style",
    "cyberpunk": "cyberpunk style, neon lights",
    "steampunk": "steampunk style",
    "vaporwave": "vaporwave style",
    "synthwave": "synthwave style",
    "pencil sketch": "pencil sketch",
    "pencil drawing": "pencil sketch",
    "sketch": "pencil sketch",
    "charcoal": "charcoal drawing",
    "line art": "line art",
    "comic book": "comic book style",
    "comic": "comic book style",
    "cartoon": "cartoon style",
    "pixar": "3d animated film style",
    "3d render": "3d render",
    "low poly": "low poly 3d render",
    "claymation": "claymation",
    "impressionist": "impressionist painting",
    "impressionism": "impressionist painting",
    "pop art": "pop art",
    "art deco": "art deco style",
    "art nouveau": "art nouveau style",
    "ukiyo-e": "ukiyo-e woodblock print",
    "woodblock": "ukiyo-e woodblock print",
    "stained glass": "stained glass",
    "mosaic": "mosaic",
    "origami": "origami paper craft",
    "film noir": "film noir, black and white",
    "noir": "film noir, black and white",
    "black and white": "black and white photograph",
    "polaroid": "vintage polaroid photo",
    "vintage photo": "vintage photo",
    "studio ghibli": "studio ghibli style",
    "ghibli": "studio ghibli style",
    "photorealistic": "photorealistic photograph",
    "oil": "oil painting",
    "painting": "painting",
    "drawing": "drawing",
}
STYLE_RE = re.compile(r"\b(" + "|".join(re.escape(k) for k in sorted(STYLES, key=len, reverse=True)) + r")\b")

# Time, season and weather → the phrase that goes into the prompt (with the light it implies).
TIMES: dict[str, str] = {
    "night": "at night, moonlight",
    "nighttime": "at night, moonlight",
    "night time": "at night, moonlight",
    "sunset": "at sunset, golden hour light",
    "dusk": "at dusk, fading twilight",
    "sunrise": "at sunrise, soft morning light",
    "dawn": "at dawn, soft morning light",
    "noon": "at noon, bright midday sun",
    "midday": "at noon, bright midday sun",
    "golden hour": "at golden hour, warm golden light",
    "morning": "in the morning, soft morning light",
    "evening": "in the evening, warm evening light",
    "winter": "in winter, snow, cold light",
    "spring": "in spring, blossoms, fresh light",
    "summer": "in summer, bright sunlight",
    "autumn": "in autumn, falling leaves, warm tones",
    "fall": "in autumn, falling leaves, warm tones",
    "rain": "in the rain, wet reflections",
    "snow": "in the snow, snowfall",
    "fog": "in thick fog, hazy light",
    "a storm": "during a storm, dramatic clouds",
    "storm": "during a storm, dramatic clouds",
}
TIME_WORDS = "|".join(re.escape(k) for k in sorted(TIMES, key=len, reverse=True))
TIME_RE = re.compile(
    rf"\b(?:make\s+it\s+|turn\s+it\s+(?:in)?to\s+|set\s+it\s+)?(?:(?:at|during|in)\s+(?:the\s+)?)?(?P<t>{TIME_WORDS})"
    r"(?:\s+time)?\b"
)
# In a description only phrases with a preposition count as times ("a winter coat" is not a season).
DESC_TIME_RE = re.compile(rf"^(?:at|during|in)\s+(?:the\s+)?(?:{TIME_WORDS})\b")

NEGATIVE_RE = re.compile(
    r"\b(?:without|remove|erase|delete|get\s+rid\s+of|take\s+(?:out|away)|no\s+more|no|"
    r"(?:don't|dont|do\s+not)(?:\s+(?:show|include|add|draw|put|want|make\s+it))?)"
    r"\s+(?:the\s+|a\s+|an\s+|any\s+|all\s+(?:the\s+)?)?(?P<x>[^,;.]+?)(?=\s+and\s+|\s+but\s+|[,;.]|$)"
)

FILLER_RE = re.compile(
    r"^(?:(?:please|pls|can you|could you|would you|will you|i want you to|i want|i'd like|i would like|"
    r"now|then|also|just|and)\s+)+"
)
IMAGE_WORDS_RE = re.compile(r"\b(?:the|this|that)\s+(?:image|picture|photo|pic|scene|drawing)\b")
CAPTION_OPENERS = (
    "a photo of ",
    "a picture of ",
    "an image of ",
    "a close up of ",
    "a closeup of ",
    "there is ",
    "this is ",
)
ARTICLES = ("a ", "an ", "the ", "some ")
ATTRIBUTE_MARKERS = ("with", "wearing", "holding", "carrying")
PLACE_MARKERS = ("in front of", "next to", "in", "on", "at", "under", "near", "beside", "inside", "behind", "during")
SEGMENT_RE = re.compile(r"\s+(?=(?:" + "|".join(ATTRIBUTE_MARKERS + PLACE_MARKERS) + r")\s)")

PRONOUNS = {"it", "him", "her", "them", "he", "she", "they", "this", "that", "everything", "everyone", "subject"}
VERBS_ING = {
    "wear": "wearing", "hold": "holding", "smile": "smiling", "laugh": "laughing", "cry": "crying",
    "run": "running", "jump": "jumping", "dance": "dancing", "sleep": "sleeping", "sit": "sitting",
    "stand": "standing", "fly": "flying", "sing": "singing", "swim": "swimming", "wave": "waving",
    "eat": "eating", "read": "reading", "ride": "riding", "walk": "walking", "play": "playing",
    "frown": "frowning", "fight": "fighting", "kneel": "kneeling", "carry": "carrying",
}  # fmt: skip
BODY_PARTS = {
    "hair", "eyes", "eye", "fur", "skin", "beard", "face", "lips", "dress", "shirt", "coat", "jacket", "hat",
    "shoes", "clothes", "outfit", "wings", "tail", "car", "suit", "nose", "ears",
}  # fmt: skip
IMAGE_WIDE = {
    "brighter": "bright lighting", "lighter": "bright lighting", "darker": "dark moody lighting",
    "more colorful": "vibrant colors", "colorful": "vibrant colors", "more colourful": "vibrant colors",
    "warmer": "warm tones", "cooler": "cool tones", "sharper": "sharp focus", "more detailed": "highly detailed",
}  # fmt: skip
WEARABLES = {
    "hat", "cap", "crown", "glasses", "sunglasses", "scarf", "necklace", "earrings", "beard", "mustache",
    "moustache", "wings", "halo", "helmet", "mask", "tie", "cape", "backpack", "collar", "bow", "tiara",
}  # fmt: skip
