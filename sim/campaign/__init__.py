"""Seed campaigns: scenario files across many seeds on every core (:mod:`sim.campaign.pool`),
split into shards for other machines (:mod:`sim.campaign.plan`), with a seed ledger that the
shards' runs merge into (:mod:`sim.campaign.ledger`)."""
