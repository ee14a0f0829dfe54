# A hello-world SCF handler (Python), as the benchmark's function.
def main_handler(event, context):
    return {"message": "hello", "path": event.get("path")}
