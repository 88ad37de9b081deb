"""SAM and CloudFormation templates as poller configuration (`--template`).

loading reads the file (short-form tags included); sam runs SAM's transform; parameters,
intrinsics and references resolve values without a deployed stack; convert turns event source
mappings into poller's, and functions the functions they invoke; resources creates what
`--create-resources` asks for; build ties them together and output prints the result
(`poller config`).
"""
