"""Seed campaigns: scenario files, and the property-based lifecycle machine
(:mod:`sim.campaign.machine`), across many seeds on every core (:mod:`sim.campaign.pool`),
split into shards for other machines (:mod:`sim.campaign.plan`), with a seed ledger that the
shards' runs merge into (:mod:`sim.campaign.ledger`)."""
