"""The Streamlit chat (`make run`); UI only: it calls the ``rag`` API and nothing else."""
