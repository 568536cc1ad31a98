"""Checks generated ahead of time by `python -m engine.schemagen`; do not edit.

MODULES maps a check_key (engine/schema.py) to the module holding its `check`.
"""
MODULES = {
    'edd66a28231e3d9655a0b822c9aac1e354164c51f8d0bf07e625bd28c441d285': 'playbook',
    '6b8337432bf1992f49afef2ff7ce4fbaa967c0a1f111be7407ef9afd3f971313': 'plugin_approve',
    'd8a385ea58c6884c074204db862318bc52bc55b5828a51ab4c4b605c5fb3b316': 'plugin_approve_templated',
    'a87284d9cf79684e9af8c6fa9cef80cdf1d70e4678ff412e6ce048cdadfc5941': 'plugin_assert',
    '2b95a1e585d7cd63ddd95775873f82ed6933c4ad52325c408d53f3602cc35c7b': 'plugin_assert_templated',
    'dca7b252449b50f6d6d21fb141634afba5e2c8424af17ae23e6caaa20f12e4a5': 'plugin_command',
    'dbedd09f2e9607f48caa905e46db3c8228dcaf392636d113f39b5b1c10ffde81': 'plugin_command_templated',
    '00959d0acfe303f2c941d968e6744421bd0028b6c1d4ee3a508caf1f61c57ecc': 'plugin_echo',
    '57d04a5d95123203f90b51c41680f3ee36984cf4eb0d667b6a13753319a90ada': 'plugin_echo_templated',
    '853c67be9ef9f85668d6b3356533da5a0ca6f93b59eb580625a9d47f69209b22': 'plugin_helm',
    '4d28d6b213872b2102da235608bb6251dc24d19f2b9a490e4947148da6fd5a9b': 'plugin_helm_templated',
    'b69191f5908375920dfe267834a4e9ffd6504ac66232346d56c7a443271e51ea': 'plugin_http',
    'd354c0f023e285906d5d7b181d78f7d49115bb3e529158983a436b3e1f83d42c': 'plugin_http_templated',
    '2958770a6b6c92eed3c445368b2ad604fc0a4fb0900242e03e19f4aace5e9914': 'plugin_istioctl',
    '4f2761a289162091ed4e3b59416f5a755f372fe22c1d9f988a1afdd8e81d1c33': 'plugin_istioctl_templated',
    'e50de3e1e592306b8075af778fa1910bdd2c51af598782707ae183a878982f64': 'plugin_kubectl',
    'd11c8ee69f3b59745e9fc6f06e2371d76cd226b74d9467ff0d08499a3f74c392': 'plugin_kubectl_templated',
    '88b2a3b7951886b27319253a722aeddd8c27c941de73f7991d8f8386ecdcbc3d': 'plugin_pause',
    '6c33f83522aeec7884b2398e8c197e0b0b2ad29a9c244a723fe16e7aa6e1facc': 'plugin_pause_templated',
    '7d9405cb8ad33e2e6ceac59e99b1068d3b5b3358e7a6a02f9d796dbd005b0143': 'plugin_prometheus',
    '8137073d95bd03a170b96afaca616da47e6468c8b9a77b273a884e0fa914c29e': 'plugin_prometheus_templated',
    'bcbd7521f3d0991fa3d517f1833e1b42951be5eda089120211599af9bbadc2d0': 'plugin_shell',
    '25408b9b5492fb90d582a8f8981dd43787d6875ce80f58f580c5cb29faae2352': 'plugin_shell_templated',
    '4c493a339489e6aaf9eb4c2269ea5419f97d81d46c1143e7c72acd8a0f380d79': 'plugin_wait',
    'e020a5d329f07b77d894975d640614192096630cc6c0eea398ef89e2b02d5447': 'plugin_wait_templated',
}
