import streamlit as st
st.title("Conv arithmetic")
