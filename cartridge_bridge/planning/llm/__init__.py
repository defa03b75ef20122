"""The LLM planner: prompts, the chat seam, the planner and its repairer (litellm lives in client.py only)."""
