"""SAM and CloudFormation templates as poller configuration (`--template`).

loading reads the file (short-form tags included); sam runs SAM's transform; intrinsics and
references resolve values without a deployed stack; convert turns functions and event source
mappings into poller's; resources creates what `--create-resources` asks for; build ties them
together and output prints the result (`poller config`).
"""
