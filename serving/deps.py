"""Typed request dependencies: routes ask for what they need, the app state owns it.

They are `async` although they never await: FastAPI runs a sync dependency in its thread
pool, and three thread hops per request showed up in the cached read's tail latency."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import Engine

from config.settings import Settings
from serving.subgraph_answer_cache import SubgraphCache


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_subgraph_cache(request: Request) -> SubgraphCache:
    cache: SubgraphCache = request.app.state.subgraph_cache
    return cache


EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
SubgraphCacheDep = Annotated[SubgraphCache, Depends(get_subgraph_cache)]
