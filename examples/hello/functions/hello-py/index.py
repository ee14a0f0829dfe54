# A Python event function as Tencent's SCF demo writes it (runtime = "Python3.9"): scfgate runs
# it unchanged on this machine's python3. An integrated response: the returned dict becomes the
# HTTP response.
import json


def main_handler(event, context):
    name = (event.get("pathParameters") or {}).get("name") or "world"
    print("saying hello to %s (request %s)" % (name, context["request_id"]))
    return {
        "isBase64Encoded": False,
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"message": "Hello, %s, from Python!" % name, "function": context["function_name"]}),
    }
