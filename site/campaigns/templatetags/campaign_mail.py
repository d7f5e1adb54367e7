"""`{% campaign_content campaign_id version as content %}` for templates/emails/campaign.*.

A campaign mail row holds only the campaign id and content version (100,000 rows must not
each carry the issue); the composer's templates load and render the issue through this tag,
once per process and version.
"""

from django import template

from campaigns import selectors
from campaigns.rendering import CampaignContent

register = template.Library()


@register.simple_tag(name="campaign_content")
def campaign_content(campaign_id: int, version: str = "") -> CampaignContent:
    return selectors.campaign_content(campaign_id=int(campaign_id), version=str(version))
