"""The Streamlit chat (arrives with the chat issue); UI only, it calls the ``rag`` API."""
