"""Built-in evaluation: `make eval` (QA set per template) and `python -m rag.eval --beir DIR`.

Example::

    python -m rag.eval                                 # data/eval/sample_qa.jsonl, all templates
    python -m rag.eval --qa my_questions.jsonl --templates few_shot
    python -m rag.eval --beir tests/fixtures/beir_tiny
"""
