// A hello-world SCF handler (Node.js), as the benchmark's function.
exports.main_handler = async (event, context) => ({ message: 'hello', path: event.path });
