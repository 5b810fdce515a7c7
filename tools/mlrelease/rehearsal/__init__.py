"""The local rehearsal behind `mlrelease demo`: the pipelines' release flow, on one machine.

Charts are rendered on the real Helm engine and the processes their manifests describe
(command, args, env) are run here, so chart, tools and code cannot drift apart unnoticed.
"""
