#!/usr/bin/env python3
"""Self time by function in a V8 .cpuprofile (node --cpu-prof), largest first: where the host spends a step.

    python3 bench/cpu-profile.py FILE.cpuprofile [--top 30]
"""
import argparse
import collections
import json
import os

parser = argparse.ArgumentParser()
parser.add_argument('profile')
parser.add_argument('--top', type=int, default=30)
args = parser.parse_args()
with open(args.profile) as f:
    profile = json.load(f)
nodes = {n['id']: n for n in profile['nodes']}
self_us = collections.Counter()
for sample, delta in zip(profile['samples'], profile['timeDeltas']):
    frame = nodes[sample]['callFrame']
    where = f"{os.path.basename(frame['url'])}:{frame['lineNumber'] + 1}" if frame['url'] else ''
    self_us[f"{frame['functionName'] or '(anonymous)'} {where}".strip()] += delta
total = sum(self_us.values())
print(f'{total / 1e6:.2f} s sampled')
for name, us in self_us.most_common(args.top):
    print(f'{100 * us / total:6.2f} %  {us / 1e3:9.1f} ms  {name}')
